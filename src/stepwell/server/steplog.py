"""What the server saw of each run's steps: names, kinds, failed attempts (for run traces).

The store keeps a step's result under its hashed id only; the name the user gave it, its kind
and its failed attempts pass through the driver. This keeps them, in memory and for a bounded
number of runs, so a trace can say ``"first step"`` rather than ``98bf98df…``. After a restart
older runs show hashed ids: the trace degrades, nothing else depends on it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from stepwell.ports.driver import Checkpoint, Driver, ExecutionRequest, Outcome, Suspended
from stepwell.protocol.ops import Op, Opcode

DEFAULT_MAX_RUNS = 10_000

STEP_OPS: dict[Opcode, str] = {
    Opcode.STEP: "RUN",
    Opcode.STEP_RUN: "RUN",
    Opcode.STEP_ERROR: "RUN",
    Opcode.STEP_FAILED: "RUN",
    Opcode.STEP_PLANNED: "RUN",
    Opcode.SLEEP: "SLEEP",
    Opcode.WAIT_FOR_EVENT: "WAIT_FOR_EVENT",
    Opcode.INVOKE_FUNCTION: "INVOKE",
    Opcode.WAIT_FOR_SIGNAL: "WAIT_FOR_SIGNAL",
    Opcode.AI_GATEWAY: "AI_GATEWAY",
    Opcode.GATEWAY: "RUN",
}
"""The trace's ``stepOp`` for each opcode a step can be reported with."""

WAITING_OPS = frozenset(
    {Opcode.SLEEP, Opcode.WAIT_FOR_EVENT, Opcode.INVOKE_FUNCTION, Opcode.WAIT_FOR_SIGNAL}
)


@dataclass(slots=True)
class StepSeen:
    name: str
    step_op: str
    last_op: Opcode
    failed_attempts: int = 0


class StepLog:
    def __init__(self, max_runs: int = DEFAULT_MAX_RUNS) -> None:
        self._max_runs = max_runs
        self._runs: OrderedDict[str, dict[str, StepSeen]] = OrderedDict()

    def saw(self, run_id: str, op: Op) -> None:
        step_op = STEP_OPS.get(op.op)
        if step_op is None or not op.id:
            return
        steps = self._runs.get(run_id)
        if steps is None:
            steps = self._runs[run_id] = {}
            while len(self._runs) > self._max_runs:
                self._runs.popitem(last=False)
        name = op.display_name or op.name or op.id
        seen = steps.get(op.id)
        if seen is None:
            seen = steps[op.id] = StepSeen(name=name, step_op=step_op, last_op=op.op)
        elif op.op is not Opcode.STEP_PLANNED:
            seen.last_op = op.op
        if op.op in (Opcode.STEP_ERROR, Opcode.STEP_FAILED):
            seen.failed_attempts += 1

    def steps(self, run_id: str) -> dict[str, StepSeen]:
        """Hashed step id → what was seen of it (empty if nothing is known)."""
        return dict(self._runs.get(run_id, {}))


class RecordingDriver:
    """A driver that tells a ``StepLog`` about every op its inner driver reports."""

    def __init__(self, inner: Driver, log: StepLog) -> None:
        self._inner = inner
        self._log = log

    async def execute(self, request: ExecutionRequest, checkpoint: Checkpoint) -> Outcome:
        run_id = request.run_id

        async def recording(op: Op) -> object:
            self._log.saw(run_id, op)
            return await checkpoint(op)

        outcome = await self._inner.execute(request, recording)
        if isinstance(outcome, Suspended):
            for op in outcome.ops:
                self._log.saw(run_id, op)
        return outcome

    def drain(self) -> None:
        self._inner.drain()
