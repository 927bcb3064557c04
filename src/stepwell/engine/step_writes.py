"""A step's write, made as the execution goes on: at once, or buffered (checkpointing on).

Each finished step is stored with one durable write (its memo and its trace span together)
before the function goes on. With checkpointing on, a plain in-process ``step.run`` does not
wait: its write joins the execution's ``StepBuffer`` (``engine.step_buffer``), and every other
write of the execution (a step that does the engine's work, a deferred op, the execution's
end) waits for the buffered ones first (``settled``), so they land in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from stepwell.core.attempts import attempt_after_success
from stepwell.core.memo import wrap_data, wrap_data_json, wrap_error
from stepwell.engine.committer import Committer
from stepwell.engine.defers import plan_defer_op
from stepwell.engine.execution_state import BufferedStep, ExecutionState, plan_started
from stepwell.engine.ingest import validate_batch
from stepwell.engine.plan import Plan
from stepwell.engine.planner import Planner
from stepwell.engine.run_metadata import plan_op_metadata
from stepwell.engine.step_buffer import StepBuffer
from stepwell.ports.clock import Clock
from stepwell.ports.driver import RunCancelled
from stepwell.ports.records import SpanStatus, StepRow, StepSpan
from stepwell.ports.store import EngineStore, StoreConflict
from stepwell.protocol.ops import Op, Opcode

_ENGINE_WORK = frozenset({"step.sendEvent", "step.sendSignal"})
"""Steps whose checkpoint does the engine's work (and returns its answer): never buffered."""


class StepWrites:
    def __init__(
        self,
        *,
        store: EngineStore,
        planner: Planner,
        clock: Clock,
        committer: Committer,
        max_event_bytes: int,
        checkpointing: bool,
        keep: Callable[[asyncio.Future[None]], None],
    ) -> None:
        self._store = store
        self._planner = planner
        self._clock = clock
        self._committer = committer
        self._max_event_bytes = max_event_bytes
        self._checkpointing = checkpointing
        self._keep = keep  # holds each flush task until it ends

    def bound(self, state: ExecutionState) -> ExecutionCheckpoint:
        """The execution's ``Checkpoint``, as its driver calls it."""
        return ExecutionCheckpoint(self, state)

    async def checkpoint(self, state: ExecutionState, op: Op) -> Any:
        """A step finished mid-execution: store it (with its span) before the run goes on,
        or, with checkpointing on, buffer it and go on at once."""
        assert state.clock is not None
        if op.op in (Opcode.DEFER_ADD, Opcode.DEFER_ABORT):
            await self.settled(state)
            return await self._defer(state, op)
        # One reading of the clock per step (this is the hot path): the step's end, and the
        # time its commit plans with.
        now = self._clock.now_ms()
        span = self._span(state, op, now)
        if self._may_buffer(state, op) and state.item.attempt == attempt_after_success(
            state.item.attempt
        ):
            if state.ahead is None:
                state.ahead = StepBuffer(
                    lambda steps: self._commit_buffered(state, steps), track=self._keep
                )
            if not state.started:
                state.start_planned = True  # the first batch carries the Running mark
            await state.ahead.add((_result_row(state.run.run_id, op), span))
            return op.data
        [data] = await self._write(state, [(op, span)], now)
        return data

    async def checkpoint_many(self, state: ExecutionState, ops: list[Op]) -> list[Any]:
        """Steps reported together: one write for all of them (one plan, one commit), never
        buffered, since the caller acknowledges them once this returns."""
        assert state.clock is not None
        if any(_engine_work(op) for op in ops):
            # Each send plans against what is stored (the pauses it resumes): one at a time.
            return [await self.checkpoint(state, op) for op in ops]
        now = self._clock.now_ms()
        return await self._write(state, [(op, self._span(state, op, now)) for op in ops], now)

    @staticmethod
    def _span(state: ExecutionState, op: Op, now: int) -> StepSpan | None:
        assert state.clock is not None
        failed = op.op is Opcode.STEP_FAILED
        return state.clock.span(
            op,
            run_id=state.run.run_id,
            attempt=state.item.attempt,
            status=SpanStatus.FAILED if failed else SpanStatus.COMPLETED,
            now_ms=now,
        )

    async def _write(
        self, state: ExecutionState, steps: list[tuple[Op, StepSpan | None]], now: int
    ) -> list[Any]:
        """Finished steps in one commit, after every buffered one: their memo rows, spans and
        metadata, the Running mark if not made yet, and the attempt reset a settled step
        brings (§5.8)."""
        if not steps:
            return []
        await self.settled(state)
        run_id = state.run.run_id
        attempt = state.item.attempt
        reset = attempt_after_success(attempt)
        ops = [op for op, _ in steps]

        async def build() -> Plan:
            plan = Plan()
            changes = plan.changes
            if not state.started:
                plan_started(plan, state, now)
            for op, span in steps:
                if _engine_work(op):
                    await self._plan_engine_work(plan, op, now)
                if op.op is Opcode.STEP_FAILED:
                    changes.steps.append(StepRow(run_id, op.id, wrap_error(op.error or {})))
                else:
                    changes.steps.append(_result_row(run_id, op))
                if span is not None:
                    changes.spans.append(span)
            await plan_op_metadata(self._store, plan, run_id, ops, attempt, now)
            if attempt != reset:
                # A step settled (its result or its final error is stored): the next step's
                # failures count their attempts afresh (§5.8), also after a restart.
                changes.items_rescheduled.append(replace(state.item, attempt=reset))
            return plan

        await self._commit(state, build)
        if attempt != reset:
            state.item = replace(state.item, attempt=reset)
        return [op.data for op in ops]

    async def _plan_engine_work(self, plan: Plan, op: Op, now: int) -> None:
        """A step whose write does the engine's work: its answer becomes the step's data."""
        if op.opts.get("type") == "step.sendEvent":
            # The events and the step's memo land in one transaction: exactly once.
            stored = validate_batch(op.opts["events"], now_ms=now, max_bytes=self._max_event_bytes)
            await self._planner.plan_events(stored, plan, now)
            op.data = [e.internal_id for e in stored]
        else:
            # Our SDK's send_signal: the delivery and the step's memo (the id of the run that
            # got it, or None) commit together, so a replay never delivers it again.
            signal = str(op.opts["signal"])
            op.data = await self._planner.plan_signal(signal, op.opts.get("data"), plan, now)
        op.encoded_data = None

    async def _commit(self, state: ExecutionState, build: Callable[[], Awaitable[Plan]]) -> None:
        """A write of the execution's; the run ended meanwhile: ``RunCancelled``."""
        try:
            await self._committer.commit(build)
        except StoreConflict as exc:
            raise RunCancelled(str(exc)) from exc
        state.started = True

    def _may_buffer(self, state: ExecutionState, op: Op) -> bool:
        """Whether the step's write may follow it (checkpointing on): a plain result of an
        in-process ``step.run`` that carries no metadata."""
        return (
            self._checkpointing
            and op.op is Opcode.STEP_RUN
            and state.spec.url is None
            and not op.metadata
            and op.opts.get("type") not in _ENGINE_WORK
        )

    async def _commit_buffered(self, state: ExecutionState, steps: list[BufferedStep]) -> None:
        """One batch of buffered steps, in one commit (the first carries the Running mark)."""

        async def build() -> Plan:
            plan = Plan()
            if not state.started:
                plan_started(plan, state, self._clock.now_ms())
            _put_steps(plan, steps)
            return plan

        await self._commit(state, build)

    @staticmethod
    async def closed(state: ExecutionState, *, carry: bool) -> None:
        """The execution has ended: its buffered steps committed, or with ``carry``, those no
        batch has taken kept in ``state.unsent`` for the end's own commit (``carried``)."""
        buffer, state.ahead = state.ahead, None  # state and buffer refer to each other
        if buffer is None:
            return
        if carry:
            state.unsent = await buffer.close()
        else:
            await buffer.settle()

    @staticmethod
    def carried(plan: Plan, state: ExecutionState) -> None:
        """Into the end's plan: the steps ``closed`` kept for it."""
        _put_steps(plan, state.unsent)

    @staticmethod
    async def settled(state: ExecutionState) -> None:
        """Every buffered step of the execution committed (raises ``RunCancelled`` if the run
        ended meanwhile)."""
        if state.ahead is not None:
            await state.ahead.settle()

    async def _defer(self, state: ExecutionState, op: Op) -> Any:
        """A lazy ``DeferAdd``/``DeferAbort``: recorded against the run (``engine.defers``)."""
        recorded: list[Any] = [None]

        async def build() -> Plan:
            plan = Plan()
            now = self._clock.now_ms()
            recorded[0] = await plan_defer_op(self._store, state.run.run_id, op, plan, now)
            return plan

        await self._commit(state, build)
        return recorded[0]


class ExecutionCheckpoint:
    """``ports.driver.Checkpoint`` for one execution."""

    __slots__ = ("_state", "_writes")

    def __init__(self, writes: StepWrites, state: ExecutionState) -> None:
        self._writes = writes
        self._state = state

    async def __call__(self, op: Op) -> Any:
        return await self._writes.checkpoint(self._state, op)

    async def many(self, ops: list[Op]) -> list[Any]:
        return await self._writes.checkpoint_many(self._state, ops)


def _engine_work(op: Op) -> bool:
    """Our SDK's send_event and send_signal carry what the engine is to send; an HTTP SDK's
    sendEvent (e.g. TS checkpointing it) already sent its events: just store its ids."""
    kind = op.opts.get("type")
    return (kind == "step.sendEvent" and "events" in op.opts) or (
        kind == "step.sendSignal" and "signal" in op.opts
    )


def _put_steps(plan: Plan, steps: list[BufferedStep]) -> None:
    for row, span in steps:
        plan.changes.steps.append(row)
        if span is not None:
            plan.changes.spans.append(span)


def _result_row(run_id: str, op: Op) -> StepRow:
    """A step's result as its memo row, as JSON from the op's own encoding when it has one."""
    encoded = None if op.encoded_data is None else wrap_data_json(op.encoded_data)
    return StepRow(run_id, op.id, wrap_data(op.data), encoded)
