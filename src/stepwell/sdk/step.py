"""Step tools: ``ctx.step.run``, ``sleep``, ``wait_for_event``, ``invoke``, ``send_event``.

``Step`` is for ``async def`` functions and ``SyncStep`` for plain ``def`` ones (which run in a
worker thread). Both turn each call into the protocol's ops, exactly as an HTTP SDK would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from stepwell.core.expressions import compile_expression, match_expression
from stepwell.drivers.inprocess import StepSession, unwrap_memo
from stepwell.protocol.durations import format_duration, format_instant, to_timedelta
from stepwell.protocol.events import Event
from stepwell.protocol.ops import Op, Opcode

if TYPE_CHECKING:
    from stepwell.sdk.function import Function


def _sleep_op(hashed: str, unique: str, duration: timedelta | str | float) -> Op:
    return Op(
        Opcode.SLEEP,
        hashed,
        name=unique,
        opts={"duration": format_duration(to_timedelta(duration))},
    )


def _sleep_until_op(hashed: str, unique: str, until: datetime | str) -> Op:
    instant = until if isinstance(until, str) else format_instant(until)
    return Op(Opcode.SLEEP, hashed, name=unique, opts={"duration": instant})


def _wait_op(
    hashed: str,
    unique: str,
    event: str,
    timeout: timedelta | str | float,
    match: str | None,
    if_: str | None,
) -> Op:
    if match is not None and if_ is not None:
        raise ValueError("wait_for_event takes match= or if_=, not both")
    expression = match_expression(match) if match is not None else if_
    if expression is not None:
        compile_expression(expression)
    opts: dict[str, Any] = {"event": event, "timeout": format_duration(to_timedelta(timeout))}
    if expression:
        opts["if"] = expression
    return Op(Opcode.WAIT_FOR_EVENT, hashed, name=event, display_name=unique, opts=opts)


def _invoke_op(
    hashed: str,
    unique: str,
    function: Function[Any] | str,
    data: dict[str, Any] | None,
    timeout: timedelta | str | float | None,
) -> Op:
    slug = function if isinstance(function, str) else function.slug
    opts: dict[str, Any] = {"function_id": slug, "payload": {"data": dict(data or {})}}
    if timeout is not None:
        opts["timeout"] = format_duration(to_timedelta(timeout))
    return Op(Opcode.INVOKE_FUNCTION, hashed, name=unique, opts=opts)


def _send_op(hashed: str, unique: str, events: Event | Sequence[Event]) -> Op:
    batch = [events] if isinstance(events, Event) else list(events)
    return Op(
        Opcode.STEP_RUN,
        hashed,
        name="sendEvent",
        display_name=unique,
        opts={"type": "step.sendEvent", "events": batch},
    )


def _event_or_none(value: Any) -> Event | None:
    return None if value is None else Event.from_wire(value)


class Step:
    """Step tools for ``async def`` functions."""

    def __init__(self, session: StepSession) -> None:
        self._session = session

    async def run(self, step_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` once, durably; its JSON result is remembered."""
        return await self._session.run_step(step_id, functools.partial(fn, *args, **kwargs))

    async def sleep(self, step_id: str, duration: timedelta | str | float) -> None:
        unique, hashed, memo = self._session.begin(step_id)
        if memo is None:
            raise self._session.suspend(_sleep_op(hashed, unique, duration))

    async def sleep_until(self, step_id: str, until: datetime | str) -> None:
        unique, hashed, memo = self._session.begin(step_id)
        if memo is None:
            raise self._session.suspend(_sleep_until_op(hashed, unique, until))

    async def wait_for_event(
        self,
        step_id: str,
        *,
        event: str,
        timeout: timedelta | str | float,
        match: str | None = None,
        if_: str | None = None,
    ) -> Event | None:
        """The first matching event to arrive within ``timeout``, or None."""
        unique, hashed, memo = self._session.begin(step_id)
        if memo is None:
            raise self._session.suspend(_wait_op(hashed, unique, event, timeout, match, if_))
        return _event_or_none(memo.value)

    async def invoke(
        self,
        step_id: str,
        *,
        function: Function[Any] | str,
        data: dict[str, Any] | None = None,
        timeout: timedelta | str | float | None = None,
    ) -> Any:
        """Run another function with ``data`` as its event and return its result."""
        unique, hashed, memo = self._session.begin(step_id)
        if memo is None:
            raise self._session.suspend(_invoke_op(hashed, unique, function, data, timeout))
        return unwrap_memo(unique, memo)

    async def send_event(self, step_id: str, events: Event | Sequence[Event]) -> list[str]:
        """Send events exactly once: they and this step's result are stored together."""
        unique, hashed, memo = self._session.begin(step_id)
        if memo is not None:
            return list(memo.value)
        result: list[str] = await self._session.checkpoint_op(_send_op(hashed, unique, events))
        return result


class SyncStep:
    """Step tools for plain ``def`` functions, which run in a worker thread."""

    def __init__(self, session: StepSession) -> None:
        self._session = session

    def run(self, step_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._session.run_step_sync(step_id, functools.partial(fn, *args, **kwargs))

    def sleep(self, step_id: str, duration: timedelta | str | float) -> None:
        unique, hashed, memo = self._session.begin(step_id)
        if memo is None:
            raise self._session.suspend(_sleep_op(hashed, unique, duration))

    def sleep_until(self, step_id: str, until: datetime | str) -> None:
        unique, hashed, memo = self._session.begin(step_id)
        if memo is None:
            raise self._session.suspend(_sleep_until_op(hashed, unique, until))

    def wait_for_event(
        self,
        step_id: str,
        *,
        event: str,
        timeout: timedelta | str | float,
        match: str | None = None,
        if_: str | None = None,
    ) -> Event | None:
        unique, hashed, memo = self._session.begin(step_id)
        if memo is None:
            raise self._session.suspend(_wait_op(hashed, unique, event, timeout, match, if_))
        return _event_or_none(memo.value)

    def invoke(
        self,
        step_id: str,
        *,
        function: Function[Any] | str,
        data: dict[str, Any] | None = None,
        timeout: timedelta | str | float | None = None,
    ) -> Any:
        unique, hashed, memo = self._session.begin(step_id)
        if memo is None:
            raise self._session.suspend(_invoke_op(hashed, unique, function, data, timeout))
        return unwrap_memo(unique, memo)

    def send_event(self, step_id: str, events: Event | Sequence[Event]) -> list[str]:
        unique, hashed, memo = self._session.begin(step_id)
        if memo is not None:
            return list(memo.value)
        result: list[str] = self._session.call_soon(
            self._session.checkpoint_op(_send_op(hashed, unique, events))
        )
        return result
