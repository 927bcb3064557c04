"""How a run ends: its final status, its system events, and cancelling one (the one home).

A run ends by one ``RunUpdate`` guarded by the statuses it may end from, so two endings racing
(a cancel and a completion) cannot both apply: the loser's commit conflicts and is re-planned.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from stepwell.core.errors import standard_error
from stepwell.core.ids import new_ulid
from stepwell.core.runs import RunStatus
from stepwell.engine.plan import Plan
from stepwell.ports.records import RunRecord, RunUpdate, StoredEvent
from stepwell.ports.store import EngineStore
from stepwell.ports.telemetry import RunEnding
from stepwell.protocol import events as names
from stepwell.protocol.events import Event

UNENDED = (RunStatus.QUEUED, RunStatus.RUNNING)


def system_event(name: str, data: dict[str, Any], now_ms: int, user_id: str = "") -> StoredEvent:
    """An event the engine emits itself (``inngest/function.finished`` and the like)."""
    return StoredEvent(
        internal_id=new_ulid(),
        received_at=now_ms,
        event=Event(name=name, data=dict(data), id=user_id, ts=now_ms),
    )


def finish_run(
    run: RunRecord,
    trigger_events: list[dict[str, Any]],
    status: RunStatus,
    plan: Plan,
    now_ms: int,
    *,
    output: Any = None,
    error: dict[str, Any] | None = None,
    error_status: int | None = None,
    started: bool = True,
    attempt: int | None = None,
) -> None:
    """End a run with ``status`` and emit its system events (§7).

    ``error`` is stored as the run's output and the events' ``result``; their ``error`` is its
    standard form (``error_status``: the HTTP status of the app's answer that was it).
    ``attempt``: of the execution that ends it, for telemetry."""
    plan.changes.run_updates.append(
        RunUpdate(
            run_id=run.run_id,
            status=status,
            expect=UNENDED,
            output=output,
            error=error,
            started_at=now_ms if started else None,
            ended_at=now_ms,
        )
    )
    plan.changes.ended_runs.append(run.run_id)
    plan.ended_runs.append(run.run_id)
    plan.endings.append(RunEnding(run, status, error, attempt))
    first = trigger_events[0] if trigger_events else {}
    if first.get("name") in (names.FUNCTION_FINISHED, names.FUNCTION_FAILED):
        return  # no system events about system-event handlers: no loops
    data: dict[str, Any] = {
        "function_id": run.function_id,
        "run_id": run.run_id,
        "event": first,
        "events": trigger_events,
        "_inngest": {"status": status.value},
    }
    if status is RunStatus.COMPLETED:
        data["result"] = output
    if error is not None:
        data["error"] = standard_error(error, error_status)
        data["result"] = error
    if run.correlation_id:
        data["correlation_id"] = run.correlation_id
    emitted = plan.follow_events
    emitted.append(system_event(names.FUNCTION_FINISHED, data, now_ms))
    if status is RunStatus.FAILED:
        emitted.append(system_event(names.FUNCTION_FAILED, data, now_ms, run.run_id))
    elif status is RunStatus.CANCELLED:
        emitted.append(system_event(names.FUNCTION_CANCELLED, data, now_ms, run.run_id))


async def cancel_run(
    store: EngineStore,
    run: RunRecord | str,
    plan: Plan,
    now_ms: int,
    *,
    only_if_queued: bool = False,
) -> bool:
    """End a run as Cancelled within ``plan``; False (nothing planned) if it already ended.

    ``only_if_queued`` cancels it only if it has not started by the time the plan commits
    (``timeouts.start``: a run that just started is not timed out).
    """
    run_id = run if isinstance(run, str) else run.run_id
    if run_id in plan.ended_runs:
        return False
    current = await store.get_run(run_id) if isinstance(run, str) else run
    if current is None or current.status.is_terminal:
        return False
    if only_if_queued and current.status is not RunStatus.QUEUED:
        return False
    events = [e.to_wire() for e in await store.get_events(current.event_ids)]
    finish_run(current, events, RunStatus.CANCELLED, plan, now_ms, started=False)
    if only_if_queued:
        update = plan.changes.run_updates[-1]
        plan.changes.run_updates[-1] = replace(update, expect=(RunStatus.QUEUED,))
    return True
