"""What accepting events and ending runs write: pure decisions over a few store reads.

Everything an event causes (its row, the runs it starts, the waiting runs it resumes) goes into
one change set, so an acknowledged event has already done all it will ever do.
"""

from __future__ import annotations

from typing import Any

from stepwell.core.expressions import evaluate_bool
from stepwell.core.ids import new_ulid
from stepwell.core.limits import IDEMPOTENCY_PERIOD_MS
from stepwell.core.memo import wrap_data, wrap_error
from stepwell.core.runs import RunStatus
from stepwell.engine.admission import decide
from stepwell.engine.crossings import Waiting
from stepwell.engine.endings import cancel_run
from stepwell.engine.flow import FlowGate, StartRun
from stepwell.engine.keys import (
    cancel_pause_id,
    cancel_step,
    event_idempotency_key,
    execute_item_id,
    pause_timeout_item_id,
)
from stepwell.engine.plan import FORCE_PLAN_KEY, FreshRun, Lease, Plan
from stepwell.engine.registry import FunctionSpec, Registry
from stepwell.engine.run_timeouts import arm_start_timeout
from stepwell.engine.trace import closed_span, end_wait
from stepwell.ports.records import (
    ItemKind,
    NewRun,
    Pause,
    PauseKind,
    QueueItem,
    RunRecord,
    StepRow,
    StoredEvent,
)
from stepwell.ports.store import EngineStore
from stepwell.protocol import events as names


class Planner:
    def __init__(self, registry: Registry, store: EngineStore, lease: Lease) -> None:
        self._flow = FlowGate(registry, store)
        self._registry = registry
        self._store = store
        self._lease = lease

    @property
    def lease(self) -> Lease:
        return self._lease

    async def plan_events(self, stored: list[StoredEvent], plan: Plan, now_ms: int) -> None:
        consumed: set[str] = set()
        # One read per event name for the whole send, not two per event: what is stored does
        # not change while the plan is built, and ``consumed`` keeps what it used up.
        pauses = _PauseReads(self._store)
        quiet: dict[str, bool] = {}
        for event in stored:
            plan.changes.events.append(event)
            name = event.event.name
            if name not in quiet:
                quiet[name] = await self._quiet(name, pauses)
            if quiet[name]:
                continue  # stored, and nothing more: a bulk send of names nobody awaits
            wire = event.to_wire()
            for spec in self._targets(event, wire):
                if spec.paused:
                    continue  # paused: no run; the event is kept for a replay
                if spec.flow.gated and event.event.name != names.FUNCTION_INVOKED:
                    await self._start(
                        await self._flow.admit(spec, event, wire, plan, now_ms), plan, now_ms
                    )
                else:
                    await self.start_run(spec, [event], plan, now_ms)
            await self._resume_pauses(event, wire, plan, now_ms, consumed, pauses)

    async def resume_crossed(
        self, pairs: list[tuple[StoredEvent, Waiting]], plan: Plan, now_ms: int
    ) -> None:
        """Resume the pauses an event crossed (``engine.crossings``): each still stored and
        matching, with the first of its events that matches."""
        reads = _PauseReads(self._store)
        consumed: set[str] = set()
        for event, crossed in pairs:
            if crossed.pause_id in consumed:
                continue
            stored = await reads.find(crossed.event_name)
            pause = next((p for p in stored if p.pause_id == crossed.pause_id), None)
            if pause is None or pause.expires_at <= now_ms:
                continue  # consumed or timed out meanwhile
            wire = event.to_wire()
            if not _matches(pause, wire):
                continue
            consumed.add(pause.pause_id)
            await self._resume(pause, wire, plan, now_ms)

    async def _quiet(self, name: str, reads: _PauseReads) -> bool:
        """Whether an event of this name starts nothing, resumes nothing and cancels nothing
        (asked once per name and send)."""
        if name in (names.FUNCTION_INVOKED, names.FUNCTION_FINISHED):
            return False  # these find their targets in their data
        if self._registry.may_trigger(name):
            return False
        return not await reads.find(name) and not await reads.find(name, kind=PauseKind.CANCEL)

    async def plan_gate_fired(self, item: QueueItem, plan: Plan, now_ms: int) -> None:
        """A debounce period or a batch timeout ended: start its run."""
        await self._start(await self._flow.fire(item, plan, now_ms), plan, now_ms)

    async def _start(self, start: StartRun | None, plan: Plan, now_ms: int) -> None:
        if start is not None:
            await self.start_run(
                start.spec, start.events, plan, now_ms, idempotent=start.idempotent
            )

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
        correlation = None
        if first.event.name == names.FUNCTION_INVOKED:
            correlation = (first.event.data.get("_inngest") or {}).get("correlation_id")
        key = admission.idempotency_key
        if key is None and idempotent and first.event.id:
            key = event_idempotency_key(spec.slug, first.event.id)
        record = RunRecord(
            run_id=run_id,
            app_id=spec.app_id,
            function_id=spec.slug,
            status=RunStatus.QUEUED,
            event_ids=[e.internal_id for e in events],
            created_at=now_ms,
            correlation_id=correlation,
            concurrency_keys=admission.concurrency_keys,
        )
        plan.changes.runs.append(
            NewRun(
                record=record,
                idempotency_key=key,
                idempotency_expires_at=now_ms + IDEMPOTENCY_PERIOD_MS,
            )
        )
        # Priority moves the run in the queue: due earlier (or later) by that many seconds.
        due = admission.start_at - admission.priority_s * 1000
        if admission.start_at <= now_ms:
            item = self._lease.execute_item(run_id, now_ms)
            item.due_at = due
            self._lease.start_here(plan, item, FreshRun(record, events))
        else:  # throttled: the poller starts it when its time comes
            item = QueueItem(
                item_id=execute_item_id(run_id), run_id=run_id, kind=ItemKind.EXECUTE, due_at=due
            )
        plan.changes.items.append(item)
        arm_start_timeout(plan, spec.flow, run_id, now_ms)
        if admission.replaces is not None:
            await cancel_run(self._store, admission.replaces, plan, now_ms)
        if not spec.cancel_on:
            return run_id
        wire = first.to_wire()  # one copy of the event, shared by the run's cancel pauses
        for index, cancel in enumerate(spec.cancel_on):
            # Matching events that arrive after the run exists end it (§3.4.2 cancel).
            plan.changes.pauses.append(
                Pause(
                    pause_id=cancel_pause_id(run_id, index),
                    run_id=run_id,
                    step_hash=cancel_step(index),
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
        reads: _PauseReads,
    ) -> None:
        data = event.event.data
        if event.event.name == names.FUNCTION_FINISHED and data.get("correlation_id"):
            pauses = await reads.find(event.event.name, str(data["correlation_id"]))
        else:
            pauses = await reads.find(event.event.name)
        for pause in pauses:
            if pause.pause_id in consumed or pause.expires_at <= now_ms:
                continue
            if pause.kind is PauseKind.INVOKE:
                error = data.get("error")
                value = wrap_error(error) if error else wrap_data(data.get("result"))
            else:
                if not _matches(pause, wire):
                    continue
                value = wire
            consumed.add(pause.pause_id)
            await self._resume(pause, value, plan, now_ms)
        await self._cancel_matching(event, wire, plan, now_ms, consumed, reads)

    async def _cancel_matching(
        self,
        event: StoredEvent,
        wire: dict[str, Any],
        plan: Plan,
        now_ms: int,
        consumed: set[str],
        reads: _PauseReads,
    ) -> None:
        for pause in await reads.find(event.event.name, kind=PauseKind.CANCEL):
            if pause.pause_id in consumed:
                continue  # an earlier event of this send already ended its run
            if pause.run_id in plan.ended_runs or pause.expires_at <= now_ms:
                continue
            if not _matches(pause, wire):
                continue
            consumed.add(pause.pause_id)
            plan.changes.pauses_consumed.append(pause.pause_id)
            await cancel_run(self._store, pause.run_id, plan, now_ms)

    async def plan_signal(self, signal: str, data: Any, plan: Plan, now_ms: int) -> str | None:
        """Resume the run waiting longest for ``signal``; returns its id (None: no waiter)."""
        pauses = await self._store.find_pauses(signal, kind=PauseKind.SIGNAL)
        live = [p for p in pauses if p.expires_at > now_ms]
        if not live:
            return None
        pause = live[0]
        await self._resume(pause, wrap_data({"signal": signal, "data": data}), plan, now_ms)
        return pause.run_id

    async def claim_signal(
        self, pause: Pause, on_conflict: str, plan: Plan, now_ms: int
    ) -> str | None:
        """Make ``pause`` its signal's one waiter (Inngest's ``onConflict``). Returns why it
        cannot when another run already waits and ``on_conflict`` is ``"fail"``; with
        ``"replace"`` the other waits end at once as timeouts (their step gets ``null``)."""
        if on_conflict not in ("fail", "replace"):
            raise ValueError(f"conflict must be 'fail' or 'replace', not {on_conflict!r}")
        others: list[Pause] = []
        for p in await self._store.find_pauses(pause.event_name, kind=PauseKind.SIGNAL):
            if p.pause_id == pause.pause_id or p.pause_id in plan.changes.pauses_consumed:
                continue  # the same wait reported again, or one this plan already ends
            if p.expires_at > now_ms:
                others.append(p)
            else:
                # Timed out but its timer has not fired yet: the store still counts it as the
                # signal's waiter (one per signal), so end it now as its timer would.
                await self._resume(p, None, plan, now_ms)
        others += [
            p
            for p in plan.changes.pauses
            if p.kind is PauseKind.SIGNAL and p.event_name == pause.event_name
        ]
        if not others:
            return None
        if on_conflict == "fail":
            return (
                f"run {others[0].run_id} is already waiting for signal {pause.event_name!r}; "
                "pass on_conflict='replace' to take its place"
            )
        for other in others:
            if other in plan.changes.pauses:  # a sibling wait of this same execution
                plan.changes.pauses.remove(other)
                timeout_id = pause_timeout_item_id(other.run_id, other.step_hash)
                timers = [i for i in plan.changes.items if i.item_id == timeout_id]
                plan.changes.items[:] = [i for i in plan.changes.items if i.item_id != timeout_id]
                plan.changes.steps.append(StepRow(other.run_id, other.step_hash, None))
                # Its timer, not stored yet, says whether the run plans on, as when a stored
                # wait times out (the two waits were parallel work: it does).
                forced = any((i.payload or {}).get(FORCE_PLAN_KEY) for i in timers)
                self._lease.run_on(plan, other.run_id, now_ms, force_plan=forced)
                # Its WAITING span, written by this plan too, ends here as a timeout's would.
                for span in plan.changes.spans:
                    if (span.run_id, span.step_hash) == (other.run_id, other.step_hash):
                        end_wait(span, now_ms)
            else:
                await self._resume(other, None, plan, now_ms)  # None: what a timeout stores
        return None

    async def _resume(self, pause: Pause, value: Any, plan: Plan, now_ms: int) -> None:
        """A waiting run got its value: store it as the step's result and run on at once."""
        timeout_id = pause_timeout_item_id(pause.run_id, pause.step_hash)
        plan.changes.pauses_consumed.append(pause.pause_id)
        plan.changes.steps.append(StepRow(pause.run_id, pause.step_hash, value))
        plan.changes.items_removed.append(timeout_id)
        # The pause's timeout item carries its waiting span: close it in the trace.
        timer = await self._store.get_item(timeout_id)
        payload = timer.payload if timer is not None else None
        span = closed_span(payload, now_ms)
        if span is not None:
            plan.changes.spans.append(span)
        forced = bool((payload or {}).get(FORCE_PLAN_KEY))  # a wait beside parallel work
        self._lease.run_on(plan, pause.run_id, now_ms, force_plan=forced)


def _matches(pause: Pause, wire: dict[str, Any]) -> bool:
    """Whether an event (its wire form) meets a pause's ``if`` expression, if it has one: the
    run's trigger event is ``event``, the incoming one ``async``."""
    return not pause.expression or evaluate_bool(
        pause.expression, {"event": pause.trigger_event, "async": wire}
    )


class _PauseReads:
    """``find_pauses`` for one plan, each distinct question asked of the store once."""

    def __init__(self, store: EngineStore) -> None:
        self._store = store
        self._found: dict[tuple[str, str | None, PauseKind], list[Pause]] = {}

    async def find(
        self, name: str, correlation_id: str | None = None, kind: PauseKind = PauseKind.EVENT
    ) -> list[Pause]:
        key = (name, correlation_id, kind)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = await self._store.find_pauses(
                name, correlation_id=correlation_id, kind=kind
            )
        return found
