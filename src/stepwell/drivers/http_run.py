"""One execution's view of its run in the HTTP driver, kept current as results are stored."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace

from stepwell.core.attempts import attempt_after_success
from stepwell.core.errors import error_payload
from stepwell.core.limits import checked_step_output
from stepwell.core.memo import wrap_data, wrap_error
from stepwell.drivers.http_body import MemoSize
from stepwell.drivers.http_lazy import record_lazy
from stepwell.ports.driver import Checkpoint, ExecutionRequest, Outcome
from stepwell.protocol.ops import Op, Opcode


@dataclass(slots=True)
class RunView:
    """One execution's view of the run, kept current as results are stored."""

    request: ExecutionRequest
    checkpoint: Checkpoint
    attempt: int
    version: int = -1
    step_errors: list[Op] = field(default_factory=list)
    retry_after_s: float | None = None
    background: set[asyncio.Task[None]] = field(default_factory=set)
    # Targeted calls still running, by step id: a race moves on at the first result, and the
    # discovery after it plans the slower steps again; those are waited on, not called again.
    in_flight: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # A final answer (the function returned, or failed for good) given to a targeted call.
    outcome: Outcome | None = None
    # The size of the run's events as JSON (the first one is sent twice), measured once.
    events_bytes: int | None = None
    # The memo's size, each entry measured once (``MemoSize``).
    memo_size: MemoSize = field(default_factory=MemoSize)
    lazy_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # The request ids of this execution's calls in progress: a checkpoint naming another
    # call (one of a server that was restarted since, say) is stale.
    calls: set[str] = field(default_factory=set)

    async def record_lazy(self, ops: list[Op]) -> None:
        await record_lazy(ops, self.checkpoint, self.request.defers, self.lazy_lock)

    async def unstored(self, ops: list[Op]) -> list[Op]:
        """The step results among ``ops`` not stored yet, each once. A step whose own call
        still runs (a race's slower branch, run inline meanwhile) is stored by that call:
        it is waited for, never stored twice (the second write would conflict)."""
        new: dict[str, Op] = {}
        for op in ops:  # each step once, the first report of it
            if op.op in (Opcode.STEP_RUN, Opcode.STEP):
                in_flight = self.in_flight.get(op.id)
                if in_flight is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(in_flight)
                if op.id not in self.request.memo:
                    new.setdefault(op.id, op)
        return list(new.values())

    async def store(self, op: Op) -> None:
        await self.store_many([op])

    async def store_many(self, ops: list[Op]) -> None:
        """Steps reported together, in one write; each counts as settled once it is stored."""
        if not ops:
            return  # most answers lead with no result: no write to ask the engine for
        ops = [_result_checked(op) for op in ops]
        for op, data in zip(ops, await self.checkpoint.many(ops), strict=True):
            if op.op is Opcode.STEP_FAILED:
                # ``or {}`` as the engine stores it, so this view matches the next execution's.
                self.request.memo[op.id] = wrap_error(op.error or {})
            else:
                self.request.memo[op.id] = wrap_data(data)
        # A step is settled (a result, or a failure the code may catch): the next failure
        # counts its attempts afresh (§5.8).
        self.attempt = attempt_after_success(self.attempt)


def _result_checked(op: Op) -> Op:
    """A result's output checked once here, stored as it is encoded; one too large is refused
    like an in-process step's result: a step error the code may catch, not a stored blob that
    breaks every later read of the run."""
    if op.op is Opcode.STEP_FAILED:
        return op
    encoded, problem = checked_step_output(op.name or op.id, op.data)
    op.encoded_data = encoded
    if problem is None:
        return op
    error = error_payload("StepOutputError", problem)
    return replace(op, op=Opcode.STEP_FAILED, data=None, error=error, encoded_data=None)
