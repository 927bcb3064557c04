"""Running one queue item: prepare the request, call the driver, apply what it reports.

Each finished ``step.run`` is checkpointed with one durable write while the execution goes on;
the execution's end (return, raise, suspend) is applied in one more write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from stepwell.core.backoff import Backoff, clamp_retry_after
from stepwell.core.errors import error_payload
from stepwell.core.memo import INVOKE_TIMEOUT_ERROR, wrap_data, wrap_error
from stepwell.core.runs import RunStatus
from stepwell.engine.admission import priority_seconds
from stepwell.engine.concurrency import ConcurrencyGate, GateClosed
from stepwell.engine.cron import CronScheduler
from stepwell.engine.ingest import validate_batch
from stepwell.engine.planner import Plan, Planner
from stepwell.engine.registry import FunctionSpec, Registry
from stepwell.engine.shared_concurrency import SharedConcurrencyGate
from stepwell.engine.suspensions import Suspensions
from stepwell.ports.clock import Clock
from stepwell.ports.driver import (
    Completed,
    Driver,
    Errored,
    ExecutionRequest,
    Outcome,
    Released,
    RunCancelled,
)
from stepwell.ports.records import (
    ItemDone,
    ItemKind,
    QueueItem,
    RunRecord,
    RunUpdate,
    StepRow,
)
from stepwell.ports.store import Store, StoreConflict
from stepwell.protocol.ops import Op, Opcode

log = logging.getLogger("stepwell.engine")

UNKNOWN_FUNCTION_RETRY_MS = 5_000

PlanBuilder = Callable[[], Awaitable[Plan]]
CommitPlan = Callable[[PlanBuilder], Awaitable[None]]


class Executor:
    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        planner: Planner,
        driver: Driver,
        clock: Clock,
        backoff: Backoff,
        commit: CommitPlan,
        max_event_bytes: int,
        cron: CronScheduler,
        gate: ConcurrencyGate | SharedConcurrencyGate,
        max_concurrency: int,
    ) -> None:
        self._store = store
        self._registry = registry
        self._planner = planner
        self._driver = driver
        self._clock = clock
        self._backoff = backoff
        self._commit = commit  # plans, commits (re-planning on conflict), dispatches follow-ups
        self._max_event_bytes = max_event_bytes
        self._cron = cron
        self._suspensions = Suspensions(store=store, registry=registry, planner=planner)
        self._gate = gate
        # Taken after the per-key gate: runs queued on a busy key hold no global slot.
        self._slots = asyncio.Semaphore(max_concurrency)
        self._background: set[asyncio.Future[None]] = set()

    async def run_item(self, item: QueueItem) -> None:
        if item.kind is ItemKind.CRON:

            async def tick() -> Plan:
                plan = Plan()
                await self._cron.fire(item, plan)
                return plan

            await self._commit(tick)
            return
        if item.kind in (ItemKind.DEBOUNCE, ItemKind.BATCH):

            async def start_gated() -> Plan:
                plan = Plan()
                await self._planner.flow.fire(item, plan, self._clock.now_ms())
                return plan

            # A conflict means an event changed the item meanwhile: it is due again later.
            with contextlib.suppress(StoreConflict):
                await self._commit(start_gated)
            return
        run = await self._store.get_run(item.run_id)
        if run is None or run.status.is_terminal:
            await self._commit(
                _static(lambda plan: plan.changes.items_removed.append(item.item_id))
            )
            return
        if item.kind is ItemKind.RUN_TIMEOUT:
            await self._timed_out(item, run)
            return
        if item.kind is not ItemKind.EXECUTE:
            await self._wake(item, run)
            return
        spec = self._registry.get(run.function_id)
        if spec is None:
            # Its app may not have synced yet (a server restart): look again a little later.
            log.warning(
                "run %s belongs to unregistered function %s; it stays queued",
                run.run_id,
                run.function_id,
            )
            later = replace(
                item,
                due_at=self._clock.now_ms() + UNKNOWN_FUNCTION_RETRY_MS,
                lease_owner=None,
                lease_until=0,
            )
            await self._commit(_static(lambda plan: plan.changes.items_rescheduled.append(later)))
            return
        await self._execute(item, run, spec)

    def _start_soon(self, run: RunRecord, spec: FunctionSpec) -> None:
        """Show the run as Running without delaying its first step: the write is queued now
        and the writer applies writes in order; if the run ends first, it is simply dropped."""

        async def mark() -> None:
            with contextlib.suppress(StoreConflict):
                await self._commit(
                    _static(lambda plan: _mark_started(plan, run, spec, self._clock.now_ms()))
                )

        task = asyncio.ensure_future(mark())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _still_going(self, run_id: str, item: QueueItem) -> bool:
        """Whether the run has not ended; if it has, its item is dropped."""
        run = await self._store.get_run(run_id)
        if run is not None and not run.status.is_terminal:
            return True
        await self._commit(_static(lambda plan: plan.changes.items_removed.append(item.item_id)))
        return False

    async def _timed_out(self, item: QueueItem, run: RunRecord) -> None:
        """``timeouts.start`` (still queued) or ``timeouts.finish`` (still going): cancel."""
        kind = (item.payload or {}).get("timeout")

        async def build() -> Plan:
            plan = Plan()
            plan.changes.items_removed.append(item.item_id)
            # Read afresh on every attempt: this runs alongside the run's own execution.
            current = await self._store.get_run(run.run_id)
            if current is None or current.status.is_terminal:
                return plan
            if kind == "finish" or current.status is RunStatus.QUEUED:
                events = [e.to_wire() for e in await self._store.get_events(current.event_ids)]
                self._planner.plan_finish(
                    current, events, RunStatus.CANCELLED, plan, self._clock.now_ms(), started=False
                )
                if kind != "finish":
                    # Only if it is still queued: a run that just started is not timed out.
                    update = plan.changes.run_updates[-1]
                    plan.changes.run_updates[-1] = replace(update, expect=(RunStatus.QUEUED,))
            return plan

        await self._commit(build)

    async def _wake(self, item: QueueItem, run: RunRecord) -> None:
        """A sleep ended or a wait timed out: store the step's value, then run on."""
        assert item.step_hash is not None
        step_hash = item.step_hash

        async def build() -> Plan:
            now = self._clock.now_ms()
            plan = Plan()
            plan.changes.items_removed.append(item.item_id)
            value: Any = None
            if item.kind is ItemKind.PAUSE_TIMEOUT:
                assert item.pause_id is not None
                plan.changes.pauses_consumed.append(item.pause_id)
                if item.pause_id.startswith("invoke:"):
                    value = INVOKE_TIMEOUT_ERROR
            plan.changes.steps.append(StepRow(run.run_id, step_hash, value))
            follow = self._planner.execute_item(run.run_id, now)
            plan.changes.items.append(follow)
            plan.to_dispatch.append(follow)
            return plan

        try:
            await self._commit(build)
        except StoreConflict:
            # An event resumed the pause first: this timeout has nothing left to do.
            await self._commit(
                _static(lambda plan: plan.changes.items_removed.append(item.item_id))
            )

    async def _execute(self, item: QueueItem, run: RunRecord, spec: FunctionSpec) -> None:
        events = [e.to_wire() for e in await self._store.get_events(run.event_ids)]
        state = _ExecutionState(item=item, spec=spec, started=run.status is RunStatus.RUNNING)

        async def checkpoint(op: Op) -> Any:
            async def build() -> Plan:
                now = self._clock.now_ms()
                plan = Plan()
                if not state.started:
                    _mark_started(plan, run, spec, now)
                # Our SDK's send_event carries its events for us to send; an HTTP SDK's
                # sendEvent (e.g. TS checkpointing it) already sent them: just store its ids.
                if op.opts.get("type") == "step.sendEvent" and "events" in op.opts:
                    # The events and the step's memo land in one transaction: exactly once.
                    stored = validate_batch(
                        op.opts["events"], now_ms=now, max_bytes=self._max_event_bytes
                    )
                    await self._planner.plan_events(stored, plan, now)
                    op.data = [e.internal_id for e in stored]
                failed = op.op is Opcode.STEP_FAILED
                value = wrap_error(op.error or {}) if failed else wrap_data(op.data)
                plan.changes.steps.append(StepRow(run.run_id, op.id, value))
                if state.item.attempt and not failed:
                    # After a success the next failure counts its attempts afresh (§5.8).
                    plan.changes.items_rescheduled.append(replace(state.item, attempt=0))
                return plan

            try:
                await self._commit(build)
            except StoreConflict as exc:
                raise RunCancelled(str(exc)) from exc
            state.started = True
            if op.op is Opcode.STEP_RUN and state.item.attempt:
                state.item = replace(state.item, attempt=0)
            return op.data

        # Of the runs waiting for a concurrency slot, the oldest goes first; priority.run
        # makes a run that many seconds older (protocol.md §3.4.2).
        rank = run.created_at - 1000 * priority_seconds(spec, events[0] if events else {})
        try:
            async with self._gate.hold(run.concurrency_keys, rank) as waited, self._slots:
                if waited and not await self._still_going(run.run_id, item):
                    return  # ended while it waited (cancelled, timeouts.start): no call
                # Read the memo once the run may execute: waiters hold no database work.
                request = ExecutionRequest(
                    run_id=run.run_id,
                    function_id=spec.slug,
                    attempt=item.attempt,
                    max_attempts=spec.max_attempts,
                    events=events,
                    memo=await self._store.load_memo(run.run_id),
                    url=spec.url,
                    function_uuid=spec.uuid,
                    item_id=item.item_id,
                )
                if not state.started:
                    # Running once it executes: a run waiting for a slot is still queued.
                    self._start_soon(run, spec)
                    state.started = True
                outcome = await self._driver.execute(request, checkpoint)
        except (RunCancelled, GateClosed):
            return  # cancelled, or stopping before it got a slot: it stays queued

        async def build_outcome() -> Plan:
            return await self._apply(outcome, state, run, spec, events)

        try:
            await self._commit(build_outcome)
        except StoreConflict:
            log.debug("run %s ended while executing; its outcome is dropped", run.run_id)

    async def _apply(
        self,
        outcome: Outcome,
        state: _ExecutionState,
        run: RunRecord,
        spec: FunctionSpec,
        events: list[dict[str, Any]],
    ) -> Plan:
        now = self._clock.now_ms()
        item = state.item
        plan = Plan()
        if isinstance(outcome, Released):
            # Hand the work back (due now, unleased) for whichever process runs next.
            plan.changes.items_rescheduled.append(
                replace(item, due_at=now, lease_owner=None, lease_until=0)
            )
            return plan
        if isinstance(outcome, Completed):
            self._planner.plan_finish(
                run, events, RunStatus.COMPLETED, plan, now, output=outcome.output
            )
            return plan
        if isinstance(outcome, Errored):
            if outcome.retriable and item.attempt + 1 < spec.max_attempts:
                self._retry(plan, state, run, now, outcome.retry_after_s)
            else:
                self._planner.plan_finish(
                    run, events, RunStatus.FAILED, plan, now, error=outcome.error
                )
            return plan
        if not state.started:
            _mark_started(plan, run, spec, now)
        retry = False
        for op in outcome.ops:
            if op.op is Opcode.STEP_ERROR:
                retry = True
                continue
            try:
                await self._suspensions.apply(op, plan, run, events, now)
            except ValueError as exc:  # an op we cannot act on: fail the run, say why
                failed = Plan()
                error = error_payload(
                    "InvalidOpError", f"the function reported an invalid {op.op.value} op: {exc}"
                )
                self._planner.plan_finish(run, events, RunStatus.FAILED, failed, now, error=error)
                return failed
        if retry:
            self._retry(plan, state, run, now, outcome.retry_after_s)
        else:
            plan.changes.items_done.append(ItemDone(item.item_id, item.generation))
        return plan

    def _retry(
        self,
        plan: Plan,
        state: _ExecutionState,
        run: RunRecord,
        now: int,
        retry_after_s: float | None,
    ) -> None:
        if not state.started:
            _mark_started(plan, run, state.spec, now)
        if retry_after_s is not None:
            delay = clamp_retry_after(retry_after_s)
        else:
            delay = self._backoff.delay_seconds(state.item.attempt)
        plan.changes.items_rescheduled.append(
            replace(
                state.item,
                attempt=state.item.attempt + 1,
                due_at=now + int(delay * 1000),
                lease_owner=None,
                lease_until=0,
            )
        )


class _ExecutionState:
    __slots__ = ("item", "spec", "started")

    def __init__(self, *, item: QueueItem, spec: FunctionSpec, started: bool) -> None:
        self.item = item
        self.spec = spec
        self.started = started


def _static(fill: Callable[[Plan], object]) -> PlanBuilder:
    async def build() -> Plan:
        plan = Plan()
        fill(plan)
        return plan

    return build


def _mark_started(plan: Plan, run: RunRecord, spec: FunctionSpec, now: int) -> None:
    """The run's first execution: Running, its start timeout over, its finish timeout on."""
    plan.changes.run_updates.append(_mark_running(run.run_id, now))
    timeouts = spec.flow.timeouts
    if timeouts is None:
        return
    if timeouts.start_ms is not None:
        plan.changes.items_removed.append(f"{run.run_id}:start-timeout")
    if timeouts.finish_ms is not None:
        plan.changes.items.append(
            QueueItem(
                item_id=f"{run.run_id}:finish-timeout",
                run_id=run.run_id,
                kind=ItemKind.RUN_TIMEOUT,
                due_at=now + timeouts.finish_ms,
                payload={"timeout": "finish"},
            )
        )


def _mark_running(run_id: str, now: int) -> RunUpdate:
    return RunUpdate(
        run_id=run_id,
        status=RunStatus.RUNNING,
        expect=(RunStatus.QUEUED, RunStatus.RUNNING),
        started_at=now,
    )
