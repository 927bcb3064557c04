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
from stepwell.ports.records import SpanStatus, StepRow
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
        run_id = state.run.run_id
        attempt = state.item.attempt
        failed = op.op is Opcode.STEP_FAILED
        span = state.clock.span(
            op,
            run_id=run_id,
            attempt=attempt,
            status=SpanStatus.FAILED if failed else SpanStatus.COMPLETED,
            now_ms=now,
        )
        reset = attempt_after_success(attempt)
        if self._may_buffer(state, op) and attempt == reset:
            if state.ahead is None:
                state.ahead = StepBuffer(
                    lambda steps: self._commit_buffered(state, steps), track=self._keep
                )
            if not state.started:
                state.start_planned = True  # the first batch carries the Running mark
            await state.ahead.add((_result_row(run_id, op), span))
            return op.data
        await self.settled(state)

        async def build() -> Plan:
            plan = Plan()
            changes = plan.changes
            if not state.started:
                plan_started(plan, state, now)
            # Our SDK's send_event carries its events for us to send; an HTTP SDK's
            # sendEvent (e.g. TS checkpointing it) already sent them: just store its ids.
            if op.opts.get("type") == "step.sendEvent" and "events" in op.opts:
                # The events and the step's memo land in one transaction: exactly once.
                stored = validate_batch(
                    op.opts["events"], now_ms=now, max_bytes=self._max_event_bytes
                )
                await self._planner.plan_events(stored, plan, now)
                op.data = [e.internal_id for e in stored]
                op.encoded_data = None
            elif op.opts.get("type") == "step.sendSignal" and "signal" in op.opts:
                # Our SDK's send_signal: the delivery and the step's memo (the id of the run
                # that got it, or None) commit together, so a replay never delivers it again.
                signal = str(op.opts["signal"])
                op.data = await self._planner.plan_signal(signal, op.opts.get("data"), plan, now)
                op.encoded_data = None
            if failed:
                changes.steps.append(StepRow(run_id, op.id, wrap_error(op.error or {})))
            else:
                changes.steps.append(_result_row(run_id, op))
            if span is not None:
                changes.spans.append(span)
            await plan_op_metadata(self._store, plan, run_id, [op], attempt, now)
            if attempt != reset:
                # A step settled (its result or its final error is stored): the next step's
                # failures count their attempts afresh (§5.8), also after a restart.
                changes.items_rescheduled.append(replace(state.item, attempt=reset))
            return plan

        await self._commit(state, build)
        if attempt != reset:
            state.item = replace(state.item, attempt=reset)
        return op.data

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


def _put_steps(plan: Plan, steps: list[BufferedStep]) -> None:
    for row, span in steps:
        plan.changes.steps.append(row)
        if span is not None:
            plan.changes.spans.append(span)


def _result_row(run_id: str, op: Op) -> StepRow:
    """A step's result as its memo row, as JSON from the op's own encoding when it has one."""
    encoded = None if op.encoded_data is None else wrap_data_json(op.encoded_data)
    return StepRow(run_id, op.id, wrap_data(op.data), encoded)
