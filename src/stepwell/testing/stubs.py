"""Stubbed steps: a step's result given by the test instead of its body, stored for real.

A stub stands in where a step is reached for the first time (``StepSession.begin``, through
its ``stub`` hook): the function gets the stub's value as if the step had been replayed, and
the value is checkpointed as the step's result before the execution reports how it ended, so
it is in the run's memo and trace like any step's. A stub that raises is a failing attempt:
retried with backoff while attempts remain, then the step's ``StepError``, as a body's
exception would be.

Any step can be stubbed by its id: ``run`` (the value is its result), ``wait_for_event``
(an ``Event``, a dict, or ``None`` for a timeout), ``invoke`` (the invoked function's
result), ``sleep`` (any value: the sleep is skipped), ``send_event`` (the ids), ``fetch``…
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stepwell.core.errors import StepError
from stepwell.core.memo import MemoValue, wrap_data, wrap_error
from stepwell.protocol.events import Event
from stepwell.protocol.ops import Op, Opcode
from stepwell.sdk.events import is_event_data
from stepwell.sdk.runtime import Entrypoint, StepSession, step_result_op

StepStub = Any
"""A stub: a value (JSON, an ``Event``, an ``EventData``), a callable taking no arguments that
returns one (it may raise), or an exception (instance or class) to raise."""

_REPEAT = re.compile(r":\d+$")


def _is_exception(stub: Any) -> bool:
    return isinstance(stub, BaseException) or (
        isinstance(stub, type) and issubclass(stub, BaseException)
    )


def _stored_form(value: Any) -> Any:
    """A stub's value as the step stores it (events as their wire form)."""
    if is_event_data(value):
        value = value.to_event()
    return value.to_wire() if isinstance(value, Event) else value


@dataclass(slots=True)
class StepStubs:
    """Stubs by step id. A repeated id (``"charge:1"``) matches its own entry if there is
    one, else the id it repeats (``"charge"``)."""

    by_id: dict[str, StepStub] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    """How many times each stub was used, by the step id it was used for."""

    @classmethod
    def of(cls, steps: Mapping[str, StepStub] | None) -> StepStubs:
        return cls(dict(steps or {}))

    def merged(self, over: StepStubs | None) -> StepStubs:
        """These stubs with ``over``'s entries winning (and one tally of calls)."""
        if over is None:
            return self
        return StepStubs({**self.by_id, **over.by_id}, over.calls)

    def find(self, unique: str) -> tuple[bool, StepStub]:
        if unique in self.by_id:
            return True, self.by_id[unique]
        base = _REPEAT.sub("", unique)
        if base != unique and base in self.by_id:
            return True, self.by_id[base]
        return False, None

    def value_of(self, unique: str, stub: StepStub) -> Any:
        """Call or raise the stub for ``unique``; its value as stored."""
        self.calls[unique] = self.calls.get(unique, 0) + 1
        if _is_exception(stub):
            raise stub
        if callable(stub) and not isinstance(stub, type) and not is_event_data(stub):
            value = stub()
            if inspect.isawaitable(value):
                if inspect.iscoroutine(value):
                    value.close()
                raise TypeError(
                    f"the stub of step {unique!r} returned an awaitable: stubs are plain "
                    "callables (def, not async def) returning the step's value"
                )
            return _stored_form(value)
        return _stored_form(stub)


class _Hook:
    """The ``StepSession.stub`` hook of one execution; keeps what it must store."""

    def __init__(self, stubs: StepStubs) -> None:
        self._stubs = stubs
        self.pending: list[Op] = []

    def __call__(self, session: StepSession, unique: str, hashed: str) -> MemoValue | None:
        found, stub = self._stubs.find(unique)
        if not found:
            return None  # not stubbed: the step runs for real
        try:
            value = self._stubs.value_of(unique, stub)
        except Exception as exc:
            op = session.settle_failure(unique, hashed, exc)
            if op.op is Opcode.STEP_ERROR:  # attempts remain: retried after backoff
                raise session.suspend(op) from None
            assert op.error is not None
            self.pending.append(op)
            session.remember(hashed, wrap_error(op.error))
            raise StepError(unique, op.error) from exc
        self.pending.append(step_result_op(Opcode.STEP_RUN, hashed, unique, value))
        session.remember(hashed, wrap_data(value))
        return MemoValue(value=value)

    async def flush(self, session: StepSession) -> None:
        """Store the stubbed results (through the middleware, as a body's result would be)."""
        pending, self.pending = self.pending, []
        for op in pending:
            if op.op is Opcode.STEP_RUN and session.middleware.active:
                stored = await session.middleware.after_step(op.display_name, op.data)
                op = step_result_op(Opcode.STEP_RUN, op.id, op.display_name, stored)
            await session.checkpoint_op(op)


StubsFor = Callable[[str], Awaitable[StepStubs | None]]
"""The stubs of a run (by run id), or None when it has none."""


def stubbed(entrypoint: Entrypoint, stubs_for: StubsFor) -> Entrypoint:
    """``entrypoint`` with the run's stubs standing in for the steps they name."""

    async def enter(session: StepSession) -> Any:
        stubs = await stubs_for(session.run_id)
        if stubs is None or not stubs.by_id:
            return await entrypoint(session)
        hook = _Hook(stubs)
        session.stub = hook
        try:
            return await entrypoint(session)
        finally:
            await hook.flush(session)

    return enter
