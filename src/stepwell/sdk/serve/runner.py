"""One call of a function over HTTP (protocol.md §5.7): replay the memo, do at most one new
step, and report what was found as ops.

The step tools and ``StepSession`` (``sdk.runtime``) are those run in process; two hooks make
them speak HTTP:

* the *checkpoint* records the finished step's op (``StepRun`` or ``StepFailed``) and unwinds
  the function, which the server will call again; with a ``Checkpointer`` (on by default,
  ``sdk.serve.checkpointer``) a ``step.run``'s result is instead sent to the server in the
  background and the function goes on, in this call, to its next step;
* the *gate*, consulted before a new step's body runs, decides whether to run it now. Steps
  reached together (``asyncio.gather``) are held at the gate until the function has nothing
  else to do; then one lone step runs inline, several are reported as ``StepPlanned``.
  A targeted call (``stepId=<hash>``) runs only that step; ``disable_immediate_execution``
  plans every new step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stepwell.ports.driver import ExecutionRequest
from stepwell.protocol.events import Event
from stepwell.protocol.ops import Op, Opcode
from stepwell.sdk.function import Function
from stepwell.sdk.runtime import Interrupt, StepSession
from stepwell.sdk.serve.checkpointer import Checkpointer

SendEvents = Callable[[list[Event | Mapping[str, Any]]], Awaitable[list[str]]]

_CALM_TURNS = 3  # loop turns without news before the function counts as waiting at its steps
_MAX_TURNS = 1000


@dataclass(slots=True)
class CallResult:
    """What a call produced: ops to report, or the function's return value, or its error."""

    ops: list[Op] = field(default_factory=list)
    returned: bool = False
    output: Any = None
    error: BaseException | None = None
    retry_after_s: float | None = None
    skipped: list[str] = field(default_factory=list)
    """Steps passed over while looking for a targeted step that was never reached."""


class HttpCall:
    def __init__(
        self,
        fn: Function[Any],
        request: ExecutionRequest,
        *,
        target: str | None,
        plan_only: bool,
        send_events: SendEvents,
        checkpointer: Checkpointer | None = None,
    ) -> None:
        self._fn = fn
        self._checkpointer = checkpointer
        self._target = target
        self._plan_only = plan_only
        self._send_events = send_events
        # A plain ``def`` runs in a thread and cannot reach two steps at once: decide at once.
        self._sequential = not fn.is_async
        self._session = StepSession(
            request, self._checkpoint, asyncio.get_running_loop(), gate=self._gate
        )
        self._ops: list[Op] = []
        self._held: list[tuple[Op, asyncio.Future[None]]] = []
        self._skipped: list[str] = []
        self._loop = asyncio.get_running_loop()
        self._wake: asyncio.Future[None] | None = None  # run()'s, while the function runs
        self._turn: asyncio.Handle | None = None  # the decider's next look, while it counts
        self._calm = 0
        self._turns = 0
        self._last: tuple[int, int] | None = None
        self._failure: BaseException | None = None
        self._marks = 0
        self._ran_inline = False
        self._closed = False
        self._unacknowledged: list[Op] = []

    async def run(self) -> CallResult:
        task = asyncio.ensure_future(self._fn.entrypoint(self._session))
        task.add_done_callback(self._wake_run)
        try:
            # Steps held at the gate are decided by loop callbacks (``_look``) meanwhile.
            while not task.done() and self._failure is None:
                self._wake = self._loop.create_future()
                try:
                    await self._wake
                finally:
                    self._wake = None
            if self._failure is not None:
                raise self._failure
            # Sibling branches of a gather outlive their parent: let them reach their steps.
            await self._quiesce()
            self._closed = True
            self._stop_deciding()
            self._decide()
            await self._session.settled()
            # Steps that yield to the server (sleep, wait, invoke, ...) are never checked as
            # they are reached: judge the whole call now, as the in-process runner does.
            diverged = await self._session.divergence.verdict()
            if self._checkpointer is not None:
                # Before answering: the server has each result, or the answer carries it.
                self._unacknowledged = await self._checkpointer.drain()
        except asyncio.CancelledError:
            self._closed = True
            self._stop_deciding()
            task.cancel()
            if self._checkpointer is not None:
                await self._checkpointer.close()
            raise
        if diverged is not None:
            # Fails the run for good (NonRetriableError: no-retry), whatever ops were found.
            if not task.cancelled():
                task.exception()  # the unwind it ended with is superseded, not lost
            return CallResult(error=diverged)
        return self._result(task)

    # -- the two hooks ----------------------------------------------------------------------------

    async def _gate(self, planned: Op) -> None:
        self._mark()
        if self._closed:
            raise Interrupt("closed")
        if self._target is not None:
            if planned.id == self._target:
                return
            self._skipped.append(planned.display_name)
            raise Interrupt("skipped")
        if self._sequential:
            if self._plan_only:
                self._ops.append(planned)
                raise Interrupt("planned")
            self._ran_inline = True
            return
        held: asyncio.Future[None] = self._loop.create_future()
        self._held.append((planned, held))
        if self._turn is None:
            self._calm, self._turns, self._last = 0, 0, None
            self._turn = self._loop.call_soon(self._look)
        await held  # resolved by _decide: returns to run, raises Interrupt to stay planned

    async def _checkpoint(self, op: Op) -> Any:
        if op.opts.get("type") == "step.sendEvent":
            op = await self._send(op)
        checkpointer = self._checkpointer
        if (
            checkpointer is not None
            and op.op is Opcode.STEP_RUN
            and not op.opts  # no work left for the server (a signal to deliver, say)
            and checkpointer.accepting
        ):
            await checkpointer.add(op)
            self._ran_inline = False  # settled: the next lone step may run in this call too
            self._mark()
            return op.data
        self._ops.append(op)
        self._mark()
        raise Interrupt(op.op.value)

    async def _send(self, op: Op) -> Op:
        """Send the events now (as the Python SDK does, inside the step) and report the ids."""
        try:
            ids = await self._send_events(list(op.opts["events"]))
        except Exception as exc:
            failure = self._session.settle_failure(op.display_name, op.id, exc)
            if failure.op is Opcode.STEP_ERROR:
                raise self._session.suspend(failure) from None
            return failure
        # No opts: the server must not ingest the events a second time.
        return Op(Opcode.STEP_RUN, op.id, name=op.name, display_name=op.display_name, data=ids)

    # -- deciding ---------------------------------------------------------------------------------

    def _mark(self) -> None:
        """Count news: the decider waits until a few loop turns bring none."""
        self._marks += 1

    def _wake_run(self, _: object = None) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _look(self) -> None:
        """One loop turn of the decider: decide once a few turns in a row brought no news.

        As ``_quiesce`` counts them, in a plain callback: no Task resumed per turn."""
        self._turn = None
        mark = (self._marks, len(self._session.suspend_ops))
        self._calm = self._calm + 1 if mark == self._last else 0
        self._turns += 1
        if self._calm < _CALM_TURNS and self._turns < _MAX_TURNS:
            self._last = mark
            self._turn = self._loop.call_soon(self._look)
            return
        try:
            self._decide()
        except BaseException as exc:  # a bug of ours: the call answers it, as it would have
            self._failure = exc
            self._wake_run()

    def _stop_deciding(self) -> None:
        if self._turn is not None:
            self._turn.cancel()
            self._turn = None

    async def _quiesce(self) -> None:
        """Let every ready task run until a few loop turns bring nothing new."""
        last: tuple[int, int] | None = None
        calm = 0
        for _ in range(_MAX_TURNS):
            mark = (self._marks, len(self._session.suspend_ops))
            calm = calm + 1 if mark == last else 0
            if calm >= _CALM_TURNS:
                return
            last = mark
            await asyncio.sleep(0)

    def _decide(self) -> None:
        if not self._held:
            return
        held, self._held = self._held, []
        alone = (
            len(held) == 1
            and not self._plan_only
            and not self._closed
            and not self._ran_inline
            and not self._ops
            and not self._session.suspend_ops
        )
        if alone:
            self._ran_inline = True
            held[0][1].set_result(None)
            return
        for planned, future in held:
            self._ops.append(planned)
            future.set_exception(Interrupt("planned"))

    def _result(self, task: asyncio.Future[Any]) -> CallResult:
        suspended = self._session.suspend_ops
        skipped = list(self._skipped)
        if self._target is not None:
            skipped += [op.display_name for op in suspended if op.id != self._target]
            suspended = [op for op in suspended if op.id == self._target]
        ops = self._unacknowledged + self._ops + suspended
        retry_after = None
        if any(op.op is Opcode.STEP_ERROR for op in ops):
            retry_after = self._session.retry_after_s
        if task.cancelled():  # the function cancelled itself: an error like any other
            return CallResult(error=RuntimeError("the function's task was cancelled"))
        error = task.exception()
        if ops:
            # Reported steps win over an error raised meanwhile: the next call replays them.
            return CallResult(ops=ops, retry_after_s=retry_after)
        if error is None:
            return CallResult(returned=True, output=task.result())
        return CallResult(error=error, skipped=skipped)
