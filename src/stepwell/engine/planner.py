"""What accepting events and ending runs write: pure decisions over a few store reads.

Everything an event causes (its row, the runs it starts, the waiting runs it resumes) goes into
one change set, so an acknowledged event has already done all it will ever do.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from stepwell.core.expressions import evaluate_bool
from stepwell.core.ids import new_ulid
from stepwell.core.limits import IDEMPOTENCY_PERIOD_MS
from stepwell.core.memo import wrap_data, wrap_error
from stepwell.core.runs import RunStatus
from stepwell.engine.admission import decide
from stepwell.engine.flow import FlowGate
from stepwell.engine.registry import FunctionSpec, Registry
from stepwell.ports.records import (
    ChangeSet,
    ItemKind,
    NewRun,
    Pause,
    PauseKind,
    QueueItem,
    RunRecord,
    RunUpdate,
    StepRow,
    StoredEvent,
)
from stepwell.ports.store import Store
from stepwell.protocol import events as names
from stepwell.protocol.events import Event


def execute_item_id(run_id: str) -> str:
    """One execute item per run: a second request to run it re-arms the first."""
    return f"{run_id}:exec"


def sleep_item_id(run_id: str, step_hash: str) -> str:
    return f"{run_id}:sleep:{step_hash}"


def timeout_item_id(run_id: str, step_hash: str) -> str:
    return f"{run_id}:timeout:{step_hash}"


@dataclass(slots=True)
class Plan:
    """A change set plus what the engine should do locally once it is committed."""

    changes: ChangeSet = field(default_factory=ChangeSet)
    to_dispatch: list[QueueItem] = field(default_factory=list)
    """Execute items leased to this process, to run as soon as the commit returns."""
    follow_events: list[StoredEvent] = field(default_factory=list)
    """Events this plan emits (system events, invocations): planned in before it commits."""
    ended_runs: list[str] = field(default_factory=list)


class Planner:
    def __init__(self, registry: Registry, store: Store, *, owner: str, lease_ms: int) -> None:
        self._flow = FlowGate(self, store)
        self._registry = registry
        self._store = store
        self._owner = owner
        self._lease_ms = lease_ms

    @property
    def flow(self) -> FlowGate:
        return self._flow

    @property
    def registry(self) -> Registry:
        return self._registry

    def execute_item(self, run_id: str, now_ms: int, attempt: int = 0) -> QueueItem:
        """Due now and already leased to us, so no other process (nor our poller) takes it."""
        return QueueItem(
            item_id=execute_item_id(run_id),
            run_id=run_id,
            kind=ItemKind.EXECUTE,
            due_at=now_ms,
            attempt=attempt,
            lease_owner=self._owner,
            lease_until=now_ms + self._lease_ms,
        )

    async def plan_events(self, stored: list[StoredEvent], plan: Plan, now_ms: int) -> None:
        consumed: set[str] = set()
        for event in stored:
            plan.changes.events.append(event)
            wire = event.to_wire()
            for spec in self._targets(event, wire):
                if spec.paused:
                    continue  # paused: no run; the event is kept for a replay
                if spec.flow.gated and event.event.name != names.FUNCTION_INVOKED:
                    await self._flow.admit(spec, event, wire, plan, now_ms)
                else:
                    await self.start_run(spec, [event], plan, now_ms)
            await self._resume_pauses(event, wire, plan, now_ms, consumed)

    def _targets(self, event: StoredEvent, wire: dict[str, Any]) -> list[FunctionSpec]:
        if event.event.name == names.FUNCTION_INVOKED:
            meta = event.event.data.get("_inngest") or {}
            spec = self._registry.get(str(meta.get("fn_id", "")))
            return [spec] if spec is not None else []
        return self._registry.matching(event.event.name, wire)

    async def start_run(
        self,
        spec: FunctionSpec,
        events: list[StoredEvent],
        plan: Plan,
        now_ms: int,
        *,
        idempotent: bool = True,
    ) -> str | None:
        """Create a run of ``spec`` for ``events`` (a batch has several); returns its id, or
        None when flow control drops it (rate limit, singleton skip).

        With ``idempotent``, the first event's sender id makes a repeat within 24 h a no-op.
        """
        run_id = new_ulid()
        admission = await decide(spec, events, plan, self._store, now_ms, run_id)
        if admission is None:
            return None
        first = events[0]
        wire = first.to_wire()
        correlation = None
        if first.event.name == names.FUNCTION_INVOKED:
            correlation = (first.event.data.get("_inngest") or {}).get("correlation_id")
        key = admission.idempotency_key
        if key is None and idempotent and first.event.id:
            digest = hashlib.sha1(first.event.id.encode("utf-8")).hexdigest()
            key = f"{spec.slug}-{digest}"
        plan.changes.runs.append(
            NewRun(
                record=RunRecord(
                    run_id=run_id,
                    app_id=spec.app_id,
                    function_id=spec.slug,
                    status=RunStatus.QUEUED,
                    event_ids=[e.internal_id for e in events],
                    created_at=now_ms,
                    correlation_id=correlation,
                    concurrency_keys=admission.concurrency_keys,
                ),
                idempotency_key=key,
                idempotency_expires_at=now_ms + IDEMPOTENCY_PERIOD_MS,
            )
        )
        # Priority moves the run in the queue: due earlier (or later) by that many seconds.
        due = admission.start_at - admission.priority_s * 1000
        if admission.start_at <= now_ms:
            item = self.execute_item(run_id, now_ms)
            item.due_at = due
            plan.to_dispatch.append(item)
        else:  # throttled: the poller starts it when its time comes
            item = QueueItem(
                item_id=execute_item_id(run_id), run_id=run_id, kind=ItemKind.EXECUTE, due_at=due
            )
        plan.changes.items.append(item)
        timeouts = spec.flow.timeouts
        if timeouts is not None and timeouts.start_ms is not None:
            plan.changes.items.append(
                QueueItem(
                    item_id=f"{run_id}:start-timeout",
                    run_id=run_id,
                    kind=ItemKind.RUN_TIMEOUT,
                    due_at=now_ms + timeouts.start_ms,
                    payload={"timeout": "start"},
                )
            )
        if admission.replaces is not None:
            await self._cancel_run(admission.replaces, plan, now_ms)
        for index, cancel in enumerate(spec.cancel_on):
            # Matching events that arrive after the run exists end it (§3.4.2 cancel).
            plan.changes.pauses.append(
                Pause(
                    pause_id=f"cancel:{run_id}:{index}",
                    run_id=run_id,
                    step_hash=f"cancel:{index}",
                    kind=PauseKind.CANCEL,
                    event_name=cancel.event,
                    expires_at=now_ms + cancel.timeout_ms,
                    expression=cancel.expression,
                    trigger_event=wire,
                )
            )
        return run_id

    async def _resume_pauses(
        self,
        event: StoredEvent,
        wire: dict[str, Any],
        plan: Plan,
        now_ms: int,
        consumed: set[str],
    ) -> None:
        data = event.event.data
        if event.event.name == names.FUNCTION_FINISHED and data.get("correlation_id"):
            pauses = await self._store.find_pauses(
                event.event.name, correlation_id=str(data["correlation_id"])
            )
        else:
            pauses = await self._store.find_pauses(event.event.name)
        for pause in pauses:
            if pause.pause_id in consumed or pause.expires_at <= now_ms:
                continue
            if pause.kind is PauseKind.INVOKE:
                error = data.get("error")
                value = wrap_error(error) if error else wrap_data(data.get("result"))
            else:
                if pause.expression and not evaluate_bool(
                    pause.expression, {"event": pause.trigger_event, "async": wire}
                ):
                    continue
                value = wire
            consumed.add(pause.pause_id)
            self._resume(pause, value, plan, now_ms)
        await self._cancel_matching(event, wire, plan, now_ms, consumed)

    async def _cancel_matching(
        self,
        event: StoredEvent,
        wire: dict[str, Any],
        plan: Plan,
        now_ms: int,
        consumed: set[str],
    ) -> None:
        for pause in await self._store.find_pauses(event.event.name, kind=PauseKind.CANCEL):
            if pause.run_id in plan.ended_runs or pause.expires_at <= now_ms:
                continue
            if pause.expression and not evaluate_bool(
                pause.expression, {"event": pause.trigger_event, "async": wire}
            ):
                continue
            consumed.add(pause.pause_id)
            plan.changes.pauses_consumed.append(pause.pause_id)
            await self._cancel_run(pause.run_id, plan, now_ms)

    async def _cancel_run(self, run_id: str, plan: Plan, now_ms: int) -> None:
        """End a run as Cancelled within this plan (no-op if it already ended)."""
        if run_id in plan.ended_runs:
            return
        run = await self._store.get_run(run_id)
        if run is None or run.status.is_terminal:
            return
        events = [e.to_wire() for e in await self._store.get_events(run.event_ids)]
        self.plan_finish(run, events, RunStatus.CANCELLED, plan, now_ms, started=False)

    async def plan_signal(self, signal: str, data: Any, plan: Plan, now_ms: int) -> str | None:
        """Resume the run waiting longest for ``signal``; returns its id (None: no waiter)."""
        pauses = await self._store.find_pauses(signal, kind=PauseKind.SIGNAL)
        live = [p for p in pauses if p.expires_at > now_ms]
        if not live:
            return None
        pause = live[0]
        self._resume(pause, wrap_data({"signal": signal, "data": data}), plan, now_ms)
        return pause.run_id

    def _resume(self, pause: Pause, value: Any, plan: Plan, now_ms: int) -> None:
        """A waiting run got its value: store it as the step's result and run on at once."""
        plan.changes.pauses_consumed.append(pause.pause_id)
        plan.changes.steps.append(StepRow(pause.run_id, pause.step_hash, value))
        plan.changes.items_removed.append(timeout_item_id(pause.run_id, pause.step_hash))
        item = self.execute_item(pause.run_id, now_ms)
        plan.changes.items.append(item)
        plan.to_dispatch.append(item)

    def plan_finish(
        self,
        run: RunRecord,
        trigger_events: list[dict[str, Any]],
        status: RunStatus,
        plan: Plan,
        now_ms: int,
        *,
        output: Any = None,
        error: dict[str, Any] | None = None,
        started: bool = True,
    ) -> None:
        """End a run and emit its system events (§7)."""
        plan.changes.run_updates.append(
            RunUpdate(
                run_id=run.run_id,
                status=status,
                expect=(RunStatus.QUEUED, RunStatus.RUNNING),
                output=output,
                error=error,
                started_at=now_ms if started else None,
                ended_at=now_ms,
            )
        )
        plan.changes.ended_runs.append(run.run_id)
        plan.ended_runs.append(run.run_id)
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
            data["error"] = error
            data["result"] = error
        if run.correlation_id:
            data["correlation_id"] = run.correlation_id
        emitted = plan.follow_events
        emitted.append(self.system_event(names.FUNCTION_FINISHED, data, now_ms))
        if status is RunStatus.FAILED:
            emitted.append(self.system_event(names.FUNCTION_FAILED, data, now_ms, run.run_id))
        elif status is RunStatus.CANCELLED:
            emitted.append(self.system_event(names.FUNCTION_CANCELLED, data, now_ms, run.run_id))

    @staticmethod
    def system_event(
        name: str, data: dict[str, Any], now_ms: int, user_id: str = ""
    ) -> StoredEvent:
        return StoredEvent(
            internal_id=new_ulid(),
            received_at=now_ms,
            event=Event(name=name, data=dict(data), id=user_id, ts=now_ms),
        )
