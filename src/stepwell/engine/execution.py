"""Executing a run (its ``execute`` item): call the driver, store each step, apply the end.

Each finished step is checkpointed while the execution goes on (``engine.step_writes``: at
once, or buffered with checkpointing on); the execution's end (return, raise, suspend, hand
back) is applied in one more write, after every step before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from stepwell.core.attempts import may_retry
from stepwell.core.backoff import Backoff, clamp_retry_after
from stepwell.core.errors import error_payload
from stepwell.core.runs import RunStatus
from stepwell.engine.admission import priority_seconds
from stepwell.engine.committer import Committer
from stepwell.engine.concurrency import ConcurrencyGate, GateClosed
from stepwell.engine.defers import load_defers
from stepwell.engine.endings import finish_run
from stepwell.engine.execution_state import ExecutionState, mark_started, plan_started
from stepwell.engine.plan import FORCE_PLAN_KEY, Plan, static_plan
from stepwell.engine.planner import Planner
from stepwell.engine.registry import FunctionSpec, Registry
from stepwell.engine.run_metadata import plan_op_metadata
from stepwell.engine.shared_concurrency import SharedConcurrencyGate
from stepwell.engine.step_writes import StepWrites
from stepwell.engine.suspensions import Suspensions
from stepwell.engine.trace import ExecutionClock
from stepwell.ports.clock import Clock
from stepwell.ports.driver import (
    Completed,
    Driver,
    Errored,
    ExecutionRequest,
    Outcome,
    Released,
    RunCancelled,
    Suspended,
)
from stepwell.ports.records import (
    ItemDone,
    QueueItem,
    RunRecord,
    SpanStatus,
    StepSpan,
    StoredEvent,
)
from stepwell.ports.store import EngineStore, StoreConflict
from stepwell.protocol.ops import Op, Opcode

log = logging.getLogger("stepwell.engine")


class Executions:
    def __init__(
        self,
        *,
        store: EngineStore,
        registry: Registry,
        planner: Planner,
        driver: Driver,
        clock: Clock,
        backoff: Backoff,
        committer: Committer,
        max_event_bytes: int,
        gate: ConcurrencyGate | SharedConcurrencyGate,
        max_concurrency: int,
        checkpointing: bool = False,
    ) -> None:
        self._store = store
        self._planner = planner
        self._driver = driver
        self._clock = clock
        self._backoff = backoff
        self._committer = committer
        self._max_event_bytes = max_event_bytes
        self._suspensions = Suspensions(store=store, registry=registry, planner=planner)
        self._gate = gate
        # Taken after the per-key gate: runs queued on a busy key hold no global slot.
        self._slots = asyncio.Semaphore(max_concurrency)
        self._background: set[asyncio.Future[None]] = set()
        self._steps = StepWrites(
            store=store,
            planner=planner,
            clock=clock,
            committer=committer,
            max_event_bytes=max_event_bytes,
            checkpointing=checkpointing,
            keep=self._keep,
        )
        self.on_room: Callable[[], None] | None = None
        """Told each time an execution gives its slot back (the dispatcher starts runs it
        held back for want of one)."""

    @property
    def full(self) -> bool:
        """Whether every slot is taken: a run started now would only wait for one."""
        return self._slots.locked()

    async def execute(
        self,
        item: QueueItem,
        run: RunRecord,
        spec: FunctionSpec,
        fresh_events: list[StoredEvent] | None = None,
        *,
        landed: asyncio.Future[bool] | None = None,
    ) -> None:
        """Execute the run once; ``fresh_events``: its events, for a run this process has just
        created (no step stored yet, so neither they nor its memo are read back)."""
        fresh = fresh_events is not None
        stored_events = (
            await self._store.get_events(run.event_ids)
            if fresh_events is None
            else [e.detached() for e in fresh_events]
        )
        events = [e.to_wire() for e in stored_events]
        state = ExecutionState(item, run, spec, events, started=run.status is RunStatus.RUNNING)
        # Of the runs waiting for a concurrency slot, the oldest goes first; priority.run
        # makes a run that many seconds older (protocol.md §3.4.2).
        rank = run.created_at - 1000 * priority_seconds(spec, events[0] if events else {})
        try:
            async with self._gate.hold(run.concurrency_keys, rank) as waited, self._slots:
                if waited and not await self._still_going(run.run_id, item):
                    return  # ended while it waited (cancelled, timeouts.start): no call
                outcome = await self._call(
                    state, stored_events, fresh=fresh and not waited, landed=landed
                )
                # Its slot is held until its end is stored: executions waiting for the
                # writer count against max_concurrency too, so they cannot pile up in memory.
                await self._end(outcome, state)
        except (RunCancelled, GateClosed):
            return  # cancelled, or stopping before it got a slot: it stays queued
        finally:
            if self.on_room is not None:
                self.on_room()

    async def _end(self, outcome: Outcome, state: ExecutionState) -> None:
        async def build_outcome() -> Plan:
            plan = await self._apply(outcome, state)
            self._steps.carried(plan, state)
            return plan

        run_id = state.run.run_id
        try:
            await self._committer.commit(build_outcome)
        except StoreConflict as exc:
            log.debug("run %s ended while executing; its outcome is dropped (%s)", run_id, exc)
            return
        if state.retry is not None:
            delay, step, error = state.retry
            telemetry = self._committer.telemetry
            telemetry.retrying(state.spec.slug, run_id, state.item.attempt, step, error, delay)

    async def _call(
        self,
        state: ExecutionState,
        stored_events: list[StoredEvent],
        *,
        fresh: bool,
        landed: asyncio.Future[bool] | None = None,
    ) -> Outcome:
        """Call the driver, the memo read once the run may execute (waiters hold no reads);
        a ``fresh`` run (just created here, not kept waiting) has none to read. ``landed``:
        the run is being stored; nothing is called unless it was."""
        item, run, spec, events = state.item, state.run, state.spec, state.events
        request = ExecutionRequest(
            run_id=run.run_id,
            function_id=spec.slug,
            attempt=item.attempt,
            max_attempts=spec.max_attempts,
            events=events,
            memo={} if fresh else await self._store.load_memo(run.run_id),
            url=spec.url,
            function_uuid=spec.uuid,
            item_id=item.item_id,
            defers=(await load_defers(self._store, run.run_id))[0].request_map()
            if spec.url is not None
            else {},
            force_plan=bool((item.payload or {}).get(FORCE_PLAN_KEY)),
        )
        if landed is not None and not await landed:
            raise RunCancelled("its run was not stored: the send that made it failed")
        received = -1  # when its event came, if the run starts now
        if not state.started:
            # Running once it executes: a run waiting for a slot is still queued.
            self._start_soon(state)
            received = min((e.received_at for e in stored_events), default=-1)
        now = self._clock.now_ms()
        queued = max(0, now - item.due_at)
        state.clock = ExecutionClock(now, queued_ms=queued)
        self._committer.telemetry.execution_started(spec.slug, run, item.attempt, queued, received)

        outcome = await self._driver.execute(request, self._steps.bound(state))
        # The end commits after every step before it. When the run goes on later (a sleep, a
        # wait), buffered steps that no batch has taken ride on the end's write; an end that
        # finishes the run, which refuses steps stored after it, waits for them instead.
        await self._steps.closed(state, carry=isinstance(outcome, Suspended))
        return outcome

    def _keep(self, task: asyncio.Future[None]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _start_soon(self, state: ExecutionState) -> None:
        """Show the run as Running without delaying its first step: a write of its own, made
        on the loop's next turn, unless the first step's write (or the end's), planned before
        then, carries the mark; if the run ends first, it is simply dropped."""
        asyncio.get_running_loop().call_soon(self._mark_unless_carried, state)

    def _mark_unless_carried(self, state: ExecutionState) -> None:
        if state.started or state.start_planned:
            return  # no task made: this is the common case, every run's first step
        state.started = True
        run, spec = state.run, state.spec

        async def mark() -> None:
            with contextlib.suppress(StoreConflict):
                await self._committer.commit(
                    static_plan(lambda plan: mark_started(plan, run, spec, self._clock.now_ms()))
                )

        self._keep(asyncio.ensure_future(mark()))

    async def _still_going(self, run_id: str, item: QueueItem) -> bool:
        """Whether the run has not ended; if it has, its item is dropped."""
        run = await self._store.get_run(run_id)
        if run is not None and not run.status.is_terminal:
            return True
        await self._committer.commit(
            static_plan(lambda plan: plan.changes.items_removed.append(item.item_id))
        )
        return False

    async def _apply(self, outcome: Outcome, state: ExecutionState) -> Plan:
        now = self._clock.now_ms()
        run, events, item = state.run, state.events, state.item
        plan = Plan()
        if isinstance(outcome, Released):
            # Hand the work back (due now, unleased) for whichever process runs next.
            plan.changes.items_rescheduled.append(
                replace(item, due_at=now, lease_owner=None, lease_until=0)
            )
            return plan
        if isinstance(outcome, Completed):
            state.start_planned = True  # the end records when it started
            finish_run(run, events, RunStatus.COMPLETED, plan, now, output=outcome.output)
            return plan
        if isinstance(outcome, Errored):
            if may_retry(item.attempt, state.spec.max_attempts, retriable=outcome.retriable):
                self._retry(plan, state, now, outcome.retry_after_s, None, outcome.error)
            else:
                state.start_planned = True
                finish_run(
                    run,
                    events,
                    RunStatus.FAILED,
                    plan,
                    now,
                    error=outcome.error,
                    error_status=outcome.status,
                    attempt=item.attempt,
                )
            return plan
        if not state.started:
            plan_started(plan, state, now)
        errors = [op for op in outcome.ops if op.op is Opcode.STEP_ERROR]
        await plan_op_metadata(self._store, plan, run.run_id, errors, item.attempt, now)
        retry: Op | None = None
        for op in outcome.ops:
            errored = op.op is Opcode.STEP_ERROR
            span = self._span(state, op, now, errored=errored)
            if errored:
                retry = op
                if span is not None:
                    plan.changes.spans.append(span)
                continue
            try:
                await self._suspensions.apply(
                    op, plan, run, events, now, span, force_plan=outcome.force_plan
                )
            except ValueError as exc:  # an op we cannot act on: fail the run, say why
                failed = Plan()
                error = error_payload(
                    "InvalidOpError", f"the function reported an invalid {op.op.value} op: {exc}"
                )
                finish_run(run, events, RunStatus.FAILED, failed, now, error=error)
                return failed
        if retry is not None:
            step = retry.display_name or retry.name or retry.id
            self._retry(plan, state, now, outcome.retry_after_s, step, retry.error)
        else:
            plan.changes.items_done.append(ItemDone(item.item_id, item.generation))
        return plan

    @staticmethod
    def _span(state: ExecutionState, op: Op, now: int, *, errored: bool) -> StepSpan | None:
        if state.clock is None:
            return None
        return state.clock.span(
            op,
            run_id=state.run.run_id,
            attempt=state.item.attempt,
            status=SpanStatus.ERRORED if errored else SpanStatus.WAITING,
            now_ms=now,
            ended=errored,
        )

    def _retry(
        self,
        plan: Plan,
        state: ExecutionState,
        now: int,
        retry_after_s: float | None,
        step: str | None,
        error: dict[str, Any] | None,
    ) -> None:
        if not state.started:
            plan_started(plan, state, now)
        if retry_after_s is not None:
            delay = clamp_retry_after(retry_after_s)
        else:
            delay = self._backoff.delay_seconds(state.item.attempt)
        state.retry = (delay, step, error)
        plan.changes.items_rescheduled.append(
            replace(
                state.item,
                attempt=state.item.attempt + 1,
                due_at=now + int(delay * 1000),
                lease_owner=None,
                lease_until=0,
            )
        )
