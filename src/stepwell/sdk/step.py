"""Step tools: ``ctx.step.run``, ``sleep``, ``wait_for_event``, ``invoke``, ``send_event``.

``Step`` is for ``async def`` functions and ``SyncStep`` for plain ``def`` ones (which run in a
worker thread). Both turn each call into the protocol's ops, exactly as an HTTP SDK would; the
module-level functions below hold what the two share.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from stepwell.core.expressions import compile_expression, match_expression
from stepwell.protocol.durations import format_duration, format_instant, to_timedelta
from stepwell.protocol.events import Event
from stepwell.protocol.ops import Op, Opcode
from stepwell.sdk.runtime import StepSession, unwrap_memo
from stepwell.sdk.step_tools import AsyncTools, SyncTools
from stepwell.sdk.types import Duration, Invocable

__all__ = ["Duration", "Step", "SyncStep"]


def _sleep(session: StepSession, step_id: str, duration: Duration) -> None:
    wait = format_duration(to_timedelta(duration))
    session.memo_or_suspend(
        step_id, lambda hashed, unique: Op(Opcode.SLEEP, hashed, unique, opts={"duration": wait})
    )


def _sleep_until(session: StepSession, step_id: str, until: datetime | str) -> None:
    instant = until if isinstance(until, str) else format_instant(until)
    session.memo_or_suspend(
        step_id,
        lambda hashed, unique: Op(Opcode.SLEEP, hashed, unique, opts={"duration": instant}),
    )


def _wait_for_event(
    session: StepSession,
    step_id: str,
    event: str,
    timeout: Duration,
    match: str | None,
    if_: str | None,
    lookback: Duration | None = None,
) -> Event | None:
    if match is not None and if_ is not None:
        raise ValueError("wait_for_event takes match= or if_=, not both")
    expression = match_expression(match) if match is not None else if_
    if expression is not None:
        compile_expression(expression)
    opts: dict[str, Any] = {"event": event, "timeout": format_duration(to_timedelta(timeout))}
    if expression:
        opts["if"] = expression
    if lookback is not None:
        opts["lookback"] = format_duration(to_timedelta(lookback))
    _, memo = session.memo_or_suspend(
        step_id,
        lambda hashed, unique: Op(
            Opcode.WAIT_FOR_EVENT, hashed, name=event, display_name=unique, opts=opts
        ),
    )
    return None if memo.value is None else Event.from_wire(memo.value)


def _invoke(
    session: StepSession,
    step_id: str,
    function: Invocable | str | None,
    data: dict[str, Any] | None,
    timeout: Duration | None,
    app_id: str | None = None,
    function_id: str | None = None,
) -> Any:
    slug = _invoked_slug(function, app_id, function_id)
    opts: dict[str, Any] = {"function_id": slug, "payload": {"data": dict(data or {})}}
    if timeout is not None:
        opts["timeout"] = format_duration(to_timedelta(timeout))
    unique, memo = session.memo_or_suspend(
        step_id, lambda hashed, unique: Op(Opcode.INVOKE_FUNCTION, hashed, unique, opts=opts)
    )
    return unwrap_memo(unique, memo)


def _invoked_slug(
    function: Invocable | str | None, app_id: str | None, function_id: str | None
) -> str:
    """A function object or its slug, or an app's id and the function's id in it (any app's
    function, as on a server: the slug is ``<app id>-<function id>``)."""
    if function is not None:
        if app_id is not None or function_id is not None:
            raise ValueError("invoke takes function=, or app_id= and function_id=, not both")
        return function if isinstance(function, str) else function.slug
    if not app_id or not function_id:
        raise ValueError("invoke needs function=, or both app_id= and function_id=")
    return f"{app_id}-{function_id}"


def _send_op(
    session: StepSession, step_id: str, events: Event | Sequence[Event]
) -> tuple[list[str] | None, Op | None]:
    """The ids if the events were already sent; otherwise the op that sends them."""
    unique, hashed, memo = session.begin(step_id)
    if memo is not None:
        return list(memo.value), None
    batch = [events] if isinstance(events, Event) else list(events)
    op = Op(
        Opcode.STEP_RUN,
        hashed,
        name="sendEvent",
        display_name=unique,
        opts={"type": "step.sendEvent", "events": batch},
    )
    return None, op


class Step(AsyncTools):
    """Step tools for ``async def`` functions."""

    def __init__(self, session: StepSession) -> None:
        self._session = session

    async def run(self, step_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` once, durably; its JSON result is remembered."""
        return await self._session.run_step(step_id, functools.partial(fn, *args, **kwargs))

    async def sleep(self, step_id: str, duration: Duration) -> None:
        _sleep(self._session, step_id, duration)

    async def sleep_until(self, step_id: str, until: datetime | str) -> None:
        _sleep_until(self._session, step_id, until)

    async def wait_for_event(
        self,
        step_id: str,
        *,
        event: str,
        timeout: Duration,
        match: str | None = None,
        if_: str | None = None,
        lookback: Duration | None = None,
    ) -> Event | None:
        """The first matching event to arrive within ``timeout``, or None. With ``lookback``
        an event received that long before the wait began matches too."""
        return _wait_for_event(self._session, step_id, event, timeout, match, if_, lookback)

    async def invoke(
        self,
        step_id: str,
        *,
        function: Invocable | str | None = None,
        data: dict[str, Any] | None = None,
        timeout: Duration | None = None,
        app_id: str | None = None,
        function_id: str | None = None,
    ) -> Any:
        """Run another function with ``data`` as its event and return its result. Name it by
        ``function`` (the object or its slug), or by ``app_id`` and ``function_id``."""
        return _invoke(self._session, step_id, function, data, timeout, app_id, function_id)

    async def send_event(self, step_id: str, events: Event | Sequence[Event]) -> list[str]:
        """Send events exactly once: they and this step's result are stored together."""
        sent, op = _send_op(self._session, step_id, events)
        if op is None:
            assert sent is not None
            return sent
        result: list[str] = await self._session.checkpoint_op(op)
        return result


class SyncStep(SyncTools):
    """Step tools for plain ``def`` functions, which run in a worker thread."""

    def __init__(self, session: StepSession) -> None:
        self._session = session

    def run(self, step_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._session.run_step_sync(step_id, functools.partial(fn, *args, **kwargs))

    def sleep(self, step_id: str, duration: Duration) -> None:
        _sleep(self._session, step_id, duration)

    def sleep_until(self, step_id: str, until: datetime | str) -> None:
        _sleep_until(self._session, step_id, until)

    def wait_for_event(
        self,
        step_id: str,
        *,
        event: str,
        timeout: Duration,
        match: str | None = None,
        if_: str | None = None,
        lookback: Duration | None = None,
    ) -> Event | None:
        return _wait_for_event(self._session, step_id, event, timeout, match, if_, lookback)

    def invoke(
        self,
        step_id: str,
        *,
        function: Invocable | str | None = None,
        data: dict[str, Any] | None = None,
        timeout: Duration | None = None,
        app_id: str | None = None,
        function_id: str | None = None,
    ) -> Any:
        return _invoke(self._session, step_id, function, data, timeout, app_id, function_id)

    def send_event(self, step_id: str, events: Event | Sequence[Event]) -> list[str]:
        sent, op = _send_op(self._session, step_id, events)
        if op is None:
            assert sent is not None
            return sent
        result: list[str] = self._session.call_soon(self._session.checkpoint_op(op))
        return result
