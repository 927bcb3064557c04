"""Rows → records, for every SQL adapter: both schemas hold the same values in the same
column order (JSON as text), so a row reads the same from SQLite and from PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

try:  # a dependency of the package; json alone is complete without it
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None  # type: ignore[assignment]

from stepwell.core.runs import RunStatus
from stepwell.ports.records import (
    ItemKind,
    Pause,
    PauseKind,
    QueueItem,
    RunRecord,
    SpanKind,
    SpanStatus,
    StepSpan,
    StoredEvent,
)
from stepwell.protocol.events import Event

RUN_COLUMNS = (
    "run_id, app_id, function_id, status, created_at, started_at, ended_at, output, error, "
    "correlation_id, event_ids, concurrency_keys"
)
ITEM_COLUMNS = (
    "item_id, run_id, kind, due_at, attempt, step_hash, pause_id, lease_owner, lease_until, "
    "generation, payload"
)
PAUSE_COLUMNS = (
    "pause_id, run_id, step_hash, kind, event_name, expires_at, expression, correlation_id, "
    "trigger_event"
)
EVENT_COLUMNS = "internal_id, name, user_id, ts, received_at, body"
SPAN_COLUMNS = (
    "run_id, step_hash, attempt, name, kind, status, started_at, ended_at, queued_ms, error, detail"
)


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
"""What ``json.dumps`` with these options builds afresh on every call (it keeps no state
between calls, so one serves every thread)."""


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def dumps_engine(value: Any) -> str:
    """``dumps`` of a value the engine built (payloads, spans, ids) or took in through strict
    validation, so no NaN is in it, the one value orjson writes otherwise (as null): orjson
    where it takes the value, ~5x faster on the writer's thread, which holds the GIL while it
    encodes; ``dumps`` for the rest (keys that are not strings, integers past 64 bits)."""
    if _orjson is not None:
        try:
            return _orjson.dumps(value).decode()
        except TypeError:  # orjson.JSONEncodeError is one
            pass
    return _ENCODER.encode(value)


def loads_opt(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# -- reading -------------------------------------------------------------------------------------


def run_from_row(row: tuple[Any, ...]) -> RunRecord:
    return RunRecord(
        run_id=row[0],
        app_id=row[1],
        function_id=row[2],
        status=RunStatus(row[3]),
        created_at=row[4],
        started_at=row[5],
        ended_at=row[6],
        output=loads_opt(row[7]),
        error=loads_opt(row[8]),
        correlation_id=row[9],
        event_ids=json.loads(row[10]),
        concurrency_keys=json.loads(row[11]) if row[11] else [],
    )


def item_from_row(row: tuple[Any, ...]) -> QueueItem:
    return QueueItem(
        item_id=row[0],
        run_id=row[1],
        kind=ItemKind(row[2]),
        due_at=row[3],
        attempt=row[4],
        step_hash=row[5],
        pause_id=row[6],
        lease_owner=row[7],
        lease_until=row[8],
        generation=row[9],
        payload=loads_opt(row[10]),
    )


def pause_from_row(row: tuple[Any, ...]) -> Pause:
    return Pause(
        pause_id=row[0],
        run_id=row[1],
        step_hash=row[2],
        kind=PauseKind(row[3]),
        event_name=row[4],
        expires_at=row[5],
        expression=row[6],
        correlation_id=row[7],
        trigger_event=json.loads(row[8]),
    )


def event_from_row(row: tuple[Any, ...]) -> StoredEvent:
    body = json.loads(row[5])
    return StoredEvent(
        internal_id=row[0],
        received_at=row[4],
        event=Event(
            name=row[1], id=row[2], ts=row[3], data=body["data"], user=body["user"], v=body["v"]
        ),
    )


def span_from_row(row: tuple[Any, ...]) -> StepSpan:
    return StepSpan(
        run_id=row[0],
        step_hash=row[1],
        attempt=row[2],
        name=row[3],
        kind=SpanKind(row[4]),
        status=SpanStatus(row[5]),
        started_at=row[6],
        ended_at=row[7],
        queued_ms=row[8],
        error=loads_opt(row[9]),
        detail=loads_opt(row[10]),
    )


def span_params(span: StepSpan) -> tuple[Any, ...]:
    """A span's values in ``SPAN_COLUMNS`` order."""
    return (
        span.run_id,
        span.step_hash,
        span.attempt,
        span.name,
        span.kind._value_,  # not ``.value``: a Python-level property on enums
        span.status._value_,
        span.started_at,
        span.ended_at,
        span.queued_ms,
        None if span.error is None else dumps_engine(span.error),
        None if span.detail is None else dumps_engine(span.detail),
    )


def latest_spans(spans: list[StepSpan]) -> list[StepSpan]:
    """One span per key, the last written: a key written twice in one change set ends as
    its second write, as it would in two commits (one upsert cannot touch a row twice)."""
    by_key = {(span.run_id, span.step_hash, span.attempt): span for span in spans}
    return list(by_key.values())
