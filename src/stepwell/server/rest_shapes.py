"""How the REST API writes records as JSON: pure functions, no web framework.

``/v1`` keeps Inngest's snake_case shapes; ``/v2`` writes camelCase, each list in
``{"data": [...], "page": {"cursor", "hasMore"}}``. The CLI prints these same shapes for
``--json`` whether it asked a server or read a database, so scripts see one format.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from stepwell.ports.records import AppRecord, QueueItem, RunRecord, StepSpan

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(ms: int | None) -> str | None:
    """RFC 3339 as this API has always written it: microseconds when the instant has a
    fraction (``….123000Z``), none when it has not (``…:00Z``)."""
    if ms is None:
        return None
    # In integers: fromtimestamp(ms / 1000) falls 1 ms short for some instants.
    return (_EPOCH + timedelta(milliseconds=ms)).isoformat().replace("+00:00", "Z")


def run_v2(run: RunRecord) -> dict[str, Any]:
    return {
        "id": run.run_id,
        "appId": run.app_id,
        "functionId": run.function_id,
        "status": run.status.value,
        "eventIds": list(run.event_ids),
        "queuedAt": iso(run.created_at),
        "startedAt": iso(run.started_at),
        "endedAt": iso(run.ended_at),
        "output": run.output,
        "error": run.error,
    }


def span_v2(span: StepSpan) -> dict[str, Any]:
    return {
        "stepId": span.step_hash,
        "name": span.name,
        "kind": span.kind.value,
        "attempt": span.attempt,
        "status": span.status.value,
        "startedAt": iso(span.started_at),
        "endedAt": iso(span.ended_at),
        "durationMs": None if span.ended_at is None else span.ended_at - span.started_at,
        "queuedMs": span.queued_ms,
        "error": span.error,
        "detail": span.detail,
    }


def job_json(item: QueueItem, now_ms: int) -> dict[str, Any]:
    """A queue item of a run, as ``GET /v1/runs/{id}/jobs`` lists it."""
    return {
        "id": item.item_id,
        "kind": item.kind.value,
        "run_id": item.run_id,
        "at": iso(item.due_at),
        "attempt": item.attempt,
        "step_id": item.step_hash,
        "leased": item.lease_owner is not None and item.lease_until > now_ms,
    }


def app_v2(app: AppRecord, *, functions: int, error: str | None = None) -> dict[str, Any]:
    return {
        "id": app.app_uuid,
        "name": app.name,
        "url": app.url,
        "syncedAt": iso(app.synced_at),
        "functionCount": functions,
        "error": error,
    }
