"""The SDK's step runtime: what the step tools stand on while a function executes.

``StepSession`` is one execution of one run as the step tools see it: it allocates step ids,
replays the memo, runs a new ``step.run`` inline and checkpoints it (one durable write) before
the function continues, so a run that keeps going never replays. The function is unwound with
``Interrupt`` only where it must wait (sleep, wait for an event, invoke, a step retry after
backoff); the next execution replays it from the memo.

``run_in_process`` runs one execution in this process and tells the engine how it ended (the
in-process driver calls it through the ``LocalFunction`` port); serving over HTTP drives the
same session with its own checkpoint and gate (``sdk.serve.runner``).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from stepwell.core.attempts import attempt_after_success, may_retry
from stepwell.core.errors import (
    NestedStepError,
    NonRetriableError,
    RetryAfterError,
    StepError,
    StepOutputError,
    error_from_exception,
)
from stepwell.core.limits import checked_step_output
from stepwell.core.memo import MemoValue, decode_memo, wrap_data, wrap_error
from stepwell.drivers.gateway import perform_gateway
from stepwell.ports.driver import (
    Checkpoint,
    Completed,
    Draining,
    Errored,
    ExecutionRequest,
    Outcome,
    Released,
    RunCancelled,
    StepCheckpoint,
    Suspended,
)
from stepwell.protocol.ops import Op, Opcode
from stepwell.protocol.step_ids import StepIdAllocator
from stepwell.sdk import step_scope
from stepwell.sdk.determinism import Divergence, remember_name
from stepwell.sdk.middleware import Pipeline

Entrypoint = Callable[["StepSession"], Awaitable[Any]]
"""How a function is entered for one execution: called with the session its steps use."""

Gate = Callable[[Op], Awaitable[None]]
"""Consulted before a new step's body runs, with the ``StepPlanned`` op that would stand for it:
returns to run the body now, or raises ``Interrupt`` to leave the step planned. Only serving
over HTTP needs one (parallel steps are planned, a targeted request runs one step); in process
every step runs at once."""

Gateway = Callable[[Op], Awaitable[dict[str, Any]]]
"""Performs a ``Gateway``/``AIGateway`` op and returns its memo. In process the SDK does it
(with ``drivers.gateway``, the HTTP driver's own code); over HTTP there is none: the op is
reported and the server performs it."""

parallel_mode: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "stepwell_parallel_mode", default=None
)
"""Set by ``ctx.group.parallel(mode="race")``: steps planned inside it say so on the wire."""

reached_steps: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "stepwell_reached_steps", default=None
)
"""Set by a race's branches: the steps each one reached, to find which finished first."""


class Interrupt(BaseException):  # not an error: a controlled unwind
    """Unwinds the user's function at a point where the run must wait.

    A BaseException so that ``except Exception`` in user code does not swallow it.
    """


def encode_output(step_id: str, value: Any) -> Any:
    """Check that a result can be stored; return it unchanged."""
    step_result_op(Opcode.STEP_RUN, step_id, step_id, value)
    return value


def _elapsed_ms(began: float) -> int:  # a step's measured time, for its trace span
    return int((time.monotonic() - began) * 1000)


def step_result_op(opcode: Opcode, hashed: str, unique: str, value: Any) -> Op:
    """The op reporting a step's result, checked (``StepOutputError``) and encoded once."""
    encoded, problem = checked_step_output(unique, value)
    if problem is not None:
        raise StepOutputError(problem)
    return Op(opcode, hashed, name=unique, display_name=unique, data=value, encoded_data=encoded)


class StepSession:
    """One execution of one run, as the step tools see it."""

    def __init__(
        self,
        request: ExecutionRequest,
        checkpoint: StepCheckpoint,
        loop: asyncio.AbstractEventLoop,
        draining: Draining = lambda: False,
        gate: Gate | None = None,
        gateway: Gateway | None = None,
    ) -> None:
        self.request = request
        self._gateway = gateway
        self._draining = draining
        self._gate = gate
        self.released = False
        self._checkpoint = checkpoint
        self._loop = loop
        self._ids = StepIdAllocator()
        self.divergence = Divergence(list(request.memo))
        self.middleware = Pipeline()  # set by the function when it is entered
        self.events: list[dict[str, Any]] = request.events  # as the middleware hands them in
        self.attempt = request.attempt
        self.suspend_ops: list[Op] = []
        self.retry_after_s: float | None = None
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.stub: Callable[[StepSession, str, str], MemoValue | None] | None = None  # testing

    # -- what the context exposes ---------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self.request.run_id

    @property
    def replaying(self) -> bool:
        """True while stored steps are replayed, until the execution reaches new work."""
        return self.divergence.replaying

    async def enter(self, middleware: Pipeline, strict_determinism: bool) -> None:
        """Before the function starts: its middleware sees the events and stored results."""
        self.middleware, self.divergence.strict = middleware, strict_determinism
        if middleware:
            self.events = await middleware.events_in(self.events)
            await middleware.memo_in(self.request.memo)

    # -- shared step plumbing ---------------------------------------------------------------------

    def begin(self, step_id: str) -> tuple[str, str, MemoValue | None]:
        """Allocate the step's id and look it up in the memo."""
        outer = step_scope.current()
        if outer is not None:
            raise NestedStepError(
                f"step {step_id!r} was called inside the body of step {outer!r}; steps cannot "
                "be nested: call it from the function body instead"
            )
        unique, hashed = self._ids.allocate(step_id)
        remember_name(hashed, unique)
        if hashed not in self.request.memo and self._draining():
            # Shutting down: stop before new work; the run stays queued for the next start.
            self.released = True
            raise Interrupt("released")
        hits = reached_steps.get()
        if hits is not None:
            hits.append(hashed)
        if hashed in self.request.memo:
            self.divergence.reached(hashed)
            return unique, hashed, decode_memo(self.request.memo[hashed])
        self.divergence.new_step(unique)
        return unique, hashed, None if self.stub is None else self.stub(self, unique, hashed)

    def memo_or_suspend(
        self, step_id: str, op_for: Callable[[str, str], Op]
    ) -> tuple[str, MemoValue]:
        """The step's stored value; without one, report ``op_for(hashed, unique)`` and unwind
        until the engine has the value (sleep, wait for an event, invoke)."""
        unique, hashed, memo = self.begin(step_id)
        if memo is None:
            raise self.suspend(op_for(hashed, unique))
        return unique, memo

    def suspend(self, op: Op) -> Interrupt:
        self.suspend_ops.append(op)
        return Interrupt(op.op.value)

    def settle_failure(self, unique: str, hashed: str, exc: Exception) -> Op:
        """Decide what a failed step body means: retry later (StepError) or fail (StepFailed)."""
        error = error_from_exception(exc)
        retriable = not isinstance(exc, NonRetriableError)
        final = not may_retry(self.attempt, self.request.max_attempts, retriable=retriable)
        if isinstance(exc, RetryAfterError) and not final:
            self.retry_after_s = exc.delay_seconds(datetime.now(UTC))
        opcode = Opcode.STEP_FAILED if final else Opcode.STEP_ERROR
        return Op(opcode, hashed, name=unique, display_name=unique, error=error)

    def remember(self, hashed: str, stored: Any) -> None:
        """Keep a settled step's memo; the next failure counts its attempts afresh (§5.8)."""
        self.request.memo[hashed] = stored
        self.attempt = attempt_after_success(self.attempt)

    # -- async steps ------------------------------------------------------------------------------

    async def run_step(self, step_id: str, body: Callable[[], Any]) -> Any:
        unique, hashed, memo = self.begin(step_id)
        if memo is not None:
            return unwrap_memo(unique, memo)
        # The hot path of every step: only await what has something to do.
        if self.divergence.unreached or self.divergence.error is not None:
            await self.divergence.check()
        if self._gate is not None:
            await self._gate(_planned(hashed, unique, unique))
        self._enter()
        try:
            token = step_scope.enter(unique, self.request.run_id, hashed, self.attempt)
            began = time.monotonic()
            result: Any = None
            middleware, active = self.middleware, self.middleware.active
            try:
                if active:
                    await middleware.before_step(unique)
                result = body()
                if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                    result = await result
                stored = await middleware.after_step(unique, result) if active else result
                op = step_result_op(Opcode.STEP_RUN, hashed, unique, stored)
            except Exception as exc:
                op = self.settle_failure(unique, hashed, exc)
            finally:
                step_scope.leave(token)
            op.duration_ms = _elapsed_ms(began)
            stored_data = await self._record(unique, op)
            return result if active else stored_data
        finally:
            self._leave()

    async def _record(self, unique: str, op: Op) -> Any:
        if op.op is Opcode.STEP_ERROR:
            raise self.suspend(op)
        data = await self._checkpoint(op)
        if op.op is Opcode.STEP_FAILED:
            assert op.error is not None
            self.remember(op.id, wrap_error(op.error))
            raise StepError(unique, op.error)
        self.remember(op.id, wrap_data(data))
        return data

    async def checkpoint_op(self, op: Op) -> Any:
        """Store a step whose work the engine does (``send_event``) and return its data."""
        await self.divergence.check()
        if op.opts.get("type") == "step.sendEvent":  # typed checks and middleware
            op.opts["events"] = await self.middleware.events_out(op.opts["events"])
        if self._gate is not None:
            await self._gate(_planned(op.id, op.name, op.display_name))
        self._enter()
        try:
            data = await self._checkpoint(op)
            self.remember(op.id, wrap_data(data))
            return data
        finally:
            self._leave()

    async def run_gateway(self, op: Op) -> Any:
        """A request the engine makes for the function (``step.fetch``, ``step.ai.infer``)."""
        if self._gateway is None:  # over HTTP: report the op; the server makes the request
            return await self.checkpoint_op(op)
        await self.divergence.check()
        self._enter()
        try:
            began = time.monotonic()
            memo = await self._gateway(op)
            if "data" in memo:  # stored as a step's result is (encrypted, say)
                stored = await self.middleware.transform_step(op.display_name, memo["data"])
                result = step_result_op(Opcode.STEP_RUN, op.id, op.display_name, stored)
            else:  # failed: retried like a step body that raised, stored on the last attempt
                final = not may_retry(self.attempt, self.request.max_attempts, retriable=True)
                opcode = Opcode.STEP_FAILED if final else Opcode.STEP_ERROR
                result = Op(opcode, op.id, op.display_name, op.display_name, error=memo["error"])
            result.duration_ms = _elapsed_ms(began)
            await self._record(op.display_name, result)  # raises unless it succeeded
            return memo["data"]  # the function gets the response as made, not as stored
        finally:
            self._leave()

    # -- sync steps (the user's function runs in a worker thread) ---------------------------------

    def run_step_sync(self, step_id: str, body: Callable[[], Any]) -> Any:
        unique, hashed, memo = self.begin(step_id)
        if memo is not None:
            return unwrap_memo(unique, memo)
        self.divergence.check_now()  # one thread reaches one step at a time: no siblings
        if self._gate is not None:
            self.call_soon(self._gate(_planned(hashed, unique, unique)))
        token = step_scope.enter(unique, self.request.run_id, hashed, self.attempt)
        began = time.monotonic()
        result: Any = None
        try:
            self.call_soon(self.middleware.before_step(unique))
            result = body()
            stored = self.call_soon(self.middleware.after_step(unique, result))
            op = step_result_op(Opcode.STEP_RUN, hashed, unique, stored)
        except Exception as exc:
            op = self.settle_failure(unique, hashed, exc)
        finally:
            step_scope.leave(token)
        op.duration_ms = _elapsed_ms(began)
        stored_data = self.call_soon(self._record(unique, op))
        return result if self.middleware else stored_data

    def call_soon(self, coro: Awaitable[Any]) -> Any:
        """From the worker thread, run a coroutine on the engine's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(_as_coro(coro), self._loop).result()

    # -- quiescence -------------------------------------------------------------------------------

    def _enter(self) -> None:
        self._running += 1
        self._idle.clear()

    def _leave(self) -> None:
        self._running -= 1
        if self._running == 0:
            self._idle.set()

    async def settled(self) -> None:
        """Wait until parallel step bodies still running have stored their results."""
        await asyncio.sleep(0)  # let sibling tasks that were already scheduled start
        await self._idle.wait()


def _planned(hashed: str, name: str, display_name: str) -> Op:
    mode = parallel_mode.get()
    opts = {"parallelMode": mode} if mode else {}
    return Op(Opcode.STEP_PLANNED, hashed, name=name, display_name=display_name, opts=opts)


async def _as_coro(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def unwrap_memo(unique: str, memo: MemoValue) -> Any:
    if memo.error is not None:
        raise StepError(unique, memo.error)
    return memo.value


async def run_in_process(
    entrypoint: Entrypoint,
    request: ExecutionRequest,
    checkpoint: Checkpoint,
    draining: Draining,
) -> Outcome:
    """Run one execution of a function in this process and say how it ended."""
    session = StepSession(
        request, checkpoint, asyncio.get_running_loop(), draining, gateway=perform_gateway
    )
    outcome = await _outcome(entrypoint, session)
    diverged = await session.divergence.verdict()  # a step that suspended is judged here
    if diverged is not None and not isinstance(outcome, Released):
        return Errored(error_from_exception(diverged), retriable=False)
    return outcome


async def _outcome(entrypoint: Entrypoint, session: StepSession) -> Outcome:
    try:
        output = await entrypoint(session)
    except Interrupt:
        await session.settled()
        if session.released:
            return Released()
        return Suspended(ops=list(session.suspend_ops), retry_after_s=session.retry_after_s)
    except RunCancelled:
        raise
    except StepError as exc:
        # An uncaught step failure fails the run: its retries were already spent (§5.4).
        await session.settled()
        return Errored(error_from_exception(exc), retriable=False)
    except NonRetriableError as exc:
        await session.settled()
        return Errored(error_from_exception(exc), retriable=False)
    except RetryAfterError as exc:
        await session.settled()
        return Errored(
            error_from_exception(exc), retry_after_s=exc.delay_seconds(datetime.now(UTC))
        )
    except Exception as exc:
        await session.settled()
        return Errored(error_from_exception(exc))
    await session.settled()
    if session.suspend_ops:
        # The function returned while ops it started were pending (not awaited).
        return Suspended(ops=list(session.suspend_ops), retry_after_s=session.retry_after_s)
    try:
        return Completed(encode_output("(function result)", output))
    except StepOutputError as exc:
        return Errored(error_from_exception(exc), retriable=False)
