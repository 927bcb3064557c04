"""Lazy ops in an SDK's answer (protocol.md §5.3): ``DeferAdd`` and ``DeferAbort``.

They never travel alone: they ride along with the op that moves the run on (a step's result,
the function's end), and are recorded before it, so that an end sees every defer reported
with it. TS reports the function's own failure as a step of id ``complete`` when lazy ops ride
along with it; ``run_end`` reads that back as the function's outcome.
"""

from __future__ import annotations

import asyncio
from typing import Any

from stepwell.core.errors import error_payload
from stepwell.drivers.http_response import SdkResponse
from stepwell.ports.driver import Checkpoint, Errored, Outcome
from stepwell.protocol.ops import Op, Opcode
from stepwell.protocol.step_ids import hash_step_id

LAZY_OPS = frozenset({Opcode.DEFER_ADD, Opcode.DEFER_ABORT})
RUN_END_ID = hash_step_id("complete")


async def record_lazy(
    ops: list[Op], checkpoint: Checkpoint, defers: dict[str, Any], lock: asyncio.Lock
) -> None:
    """Have the engine record each lazy op of ``ops``, in order; ``defers`` (what the next
    request tells the SDK) learns what was recorded."""
    for op in ops:
        if op.op not in LAZY_OPS:
            continue
        async with lock:  # one run's defers are counted one at a time
            entry = await checkpoint(op)
        target = op.id if op.op is Opcode.DEFER_ADD else op.opts.get("target_hashed_id")
        if entry is not None and isinstance(target, str):
            defers[target] = entry


def run_end(ops: list[Op], response: SdkResponse) -> Outcome | None:
    """The function's own failure reported as the step ``complete``: a final ``StepFailed``
    or a retriable ``StepError`` (unless the SDK said not to retry)."""
    for op in ops:
        if op.id == RUN_END_ID and op.op in (Opcode.STEP_FAILED, Opcode.STEP_ERROR):
            error = op.error or error_payload("Error", "the function failed")
            retriable = op.op is Opcode.STEP_ERROR and not response.no_retry
            return Errored(error, retriable=retriable, retry_after_s=response.retry_after_s)
    return None
