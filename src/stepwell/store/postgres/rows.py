"""A change set as the JSON document ``stepwell_commit_v2`` applies (reading rows is shared
with SQLite: ``stepwell.store.rows``)."""

from __future__ import annotations

from typing import Any

from stepwell.ports.records import ChangeSet, QueueItem, StepSpan
from stepwell.store.rows import dumps, latest_spans


def _dumps_opt(value: Any) -> str | None:
    return None if value is None else dumps(value)


# -- writing -------------------------------------------------------------------------------------


def _item_doc(item: QueueItem) -> dict[str, Any]:
    return {
        "item_id": item.item_id,
        "run_id": item.run_id,
        "kind": item.kind.value,
        "due_at": item.due_at,
        "attempt": item.attempt,
        "step_hash": item.step_hash,
        "pause_id": item.pause_id,
        "lease_owner": item.lease_owner,
        "lease_until": item.lease_until,
        "payload": _dumps_opt(item.payload),
    }


def span_doc(span: StepSpan) -> dict[str, Any]:
    return {
        "run_id": span.run_id,
        "step_hash": span.step_hash,
        "attempt": span.attempt,
        "name": span.name,
        "kind": span.kind.value,
        "status": span.status.value,
        "started_at": span.started_at,
        "ended_at": span.ended_at,
        "queued_ms": span.queued_ms,
        "error": _dumps_opt(span.error),
        "detail": _dumps_opt(span.detail),
    }


def wake_due(changes: ChangeSet) -> int | None:
    """The earliest due time of work this change set leaves for any process to claim."""
    puts = (put.item for put in changes.items_put if not put.delete)
    dues = [
        item.due_at
        for item in (*changes.items, *changes.items_rescheduled, *puts)
        if item.lease_owner is None
    ]
    return min(dues) if dues else None


def change_set_doc(changes: ChangeSet) -> dict[str, Any]:
    """The change set as ``stepwell_apply_v2`` reads it; empty parts are left out."""
    doc: dict[str, Any] = {}
    if changes.events:
        doc["events"] = [
            {
                "internal_id": stored.internal_id,
                "name": stored.event.name,
                "user_id": stored.event.id,
                "ts": stored.event.ts,
                "received_at": stored.received_at,
                "body": stored.body_json(),
            }
            for stored in changes.events
        ]
    if changes.runs:
        doc["runs"] = [
            {
                "run_id": new.record.run_id,
                "app_id": new.record.app_id,
                "function_id": new.record.function_id,
                "status": new.record.status.value,
                "created_at": new.record.created_at,
                "started_at": new.record.started_at,
                "ended_at": new.record.ended_at,
                "correlation_id": new.record.correlation_id,
                "event_ids": dumps(new.record.event_ids),
                "concurrency_keys": (
                    dumps(new.record.concurrency_keys) if new.record.concurrency_keys else None
                ),
                "idempotency_key": new.idempotency_key,
                "idempotency_expires_at": new.idempotency_expires_at,
            }
            for new in changes.runs
        ]
    if changes.run_updates:
        doc["run_updates"] = [
            {
                "run_id": update.run_id,
                "status": update.status.value,
                "expect": [status.value for status in update.expect],
                "output": _dumps_opt(update.output),
                "error": _dumps_opt(update.error),
                "started_at": update.started_at,
                "ended_at": update.ended_at,
            }
            for update in changes.run_updates
        ]
    if changes.steps:
        doc["steps"] = [
            {"run_id": step.run_id, "step_hash": step.step_hash, "value": dumps(step.value)}
            for step in changes.steps
        ]
    if changes.pauses_consumed:
        doc["pauses_consumed"] = list(changes.pauses_consumed)
    if changes.pauses:
        doc["pauses"] = [
            {
                "pause_id": pause.pause_id,
                "run_id": pause.run_id,
                "step_hash": pause.step_hash,
                "kind": pause.kind.value,
                "event_name": pause.event_name,
                "expires_at": pause.expires_at,
                "expression": pause.expression,
                "correlation_id": pause.correlation_id,
                "trigger_event": dumps(pause.trigger_event),
            }
            for pause in changes.pauses
        ]
    if changes.states:
        doc["states"] = [
            {"key": state.key, "value": dumps(state.value), "expect_version": state.expect_version}
            for state in changes.states
        ]
    if changes.items_removed:
        doc["items_removed"] = list(changes.items_removed)
    if changes.items_put:
        doc["items_put"] = [
            _item_doc(put.item) | {"expect_generation": put.expect_generation, "remove": put.delete}
            for put in changes.items_put
        ]
    if changes.ended_runs:
        doc["ended_runs"] = list(changes.ended_runs)
    if changes.items_done:
        doc["items_done"] = [
            {"item_id": done.item_id, "generation": done.generation} for done in changes.items_done
        ]
    if changes.items_rescheduled:
        doc["items_rescheduled"] = [_item_doc(item) for item in changes.items_rescheduled]
    if changes.items:
        doc["items"] = [_item_doc(item) for item in changes.items]
    if changes.spans:
        doc["spans"] = [span_doc(span) for span in latest_spans(changes.spans)]
    wake = wake_due(changes)
    if wake is not None:
        doc["wake"] = wake
    return doc
