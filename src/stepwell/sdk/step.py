"""Step tools: ``ctx.step.run``, ``sleep``, ``wait_for_event``, ``invoke``, ``send_event``.

``Step`` is for ``async def`` functions and ``SyncStep`` for plain ``def`` ones (which run in a
worker thread). Both turn each call into the protocol's ops, exactly as an HTTP SDK would; the
module-level functions below hold what the two share.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeAlias, TypeVar, overload

from stepwell.core.errors import ConfigError
from stepwell.core.expressions import compile_expression, match_expression
from stepwell.protocol.durations import format_duration, format_instant
from stepwell.protocol.events import Event
from stepwell.protocol.ops import Op, Opcode
from stepwell.sdk.events import event_name, is_event_data, parse_data, to_event, typed_class
from stepwell.sdk.flow_types import to_timedelta  # raises stepwell.DurationError
from stepwell.sdk.runtime import StepSession, unwrap_memo
from stepwell.sdk.serialization import NO_HINT, decode, encode, return_hint
from stepwell.sdk.step_tools import AsyncTools, SyncTools
from stepwell.sdk.types import Duration, Invocable

if TYPE_CHECKING:
    from stepwell.sdk.event_data import EventData

P = ParamSpec("P")
R = TypeVar("R")
E = TypeVar("E", bound="EventData")
SendInput: TypeAlias = "EventData | Event | Mapping[str, Any]"

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
    event: str | type[EventData],
    timeout: Duration,
    match: str | None,
    if_: str | None,
    lookback: Duration | None = None,
) -> Any:
    """The matched ``Event``, or with an ``EventData`` class its data parsed; None on timeout."""
    data_type = typed_class(event)
    event = event_name(event)
    if match is not None and if_ is not None:
        raise ConfigError("wait_for_event takes match= or if_=, not both")
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
    if memo.value is None:
        return None
    if data_type is not None:
        return parse_data(data_type, memo.value.get("data") or {}, where=f"step {step_id!r}")
    return Event.from_wire(memo.value)


_PLAIN_RESULTS = (str, int, float, bool, dict, list, type(None))


def _step_body(fn: Callable[..., Any], args: Any, kwargs: Any, hint: Any) -> Callable[[], Any]:
    """The step's body: call ``fn``, await it if it is async, encode its result to JSON.

    A plain result is encoded and returned at once, with no coroutine of its own: this is
    every step's path, and most step bodies are plain functions.
    """

    async def finish(pending: Awaitable[Any]) -> Any:
        return encode(await pending, hint, what="the step's result")

    def body() -> Any:
        result = fn(*args, **kwargs)
        if not isinstance(result, _PLAIN_RESULTS) and inspect.isawaitable(result):
            return finish(result)
        return encode(result, hint, what="the step's result")

    return body


def _output_hint(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """``output_type=`` if given (taken out of ``kwargs``), else ``fn``'s return annotation."""
    explicit = kwargs.pop("output_type", NO_HINT)
    return explicit if explicit is not NO_HINT else return_hint(fn)


def _invoke_opts(
    function: Invocable | str | None,
    data: dict[str, Any] | None,
    timeout: Duration | None,
    app_id: str | None,
    function_id: str | None,
) -> dict[str, Any]:
    slug = _invoked_slug(function, app_id, function_id)
    opts: dict[str, Any] = {"function_id": slug, "payload": {"data": dict(data or {})}}
    if timeout is not None:
        opts["timeout"] = format_duration(to_timedelta(timeout))
    return opts


def _invoke_op(hashed: str, unique: str, opts: dict[str, Any], data: dict[str, Any]) -> Op:
    """The op with ``data`` as the payload's, as the middleware left it (encrypted, say)."""
    opts = {**opts, "payload": {**opts["payload"], "data": data}}
    return Op(Opcode.INVOKE_FUNCTION, hashed, unique, opts=opts)


async def _invoke(session: StepSession, step_id: str, opts: dict[str, Any]) -> Any:
    unique, hashed, memo = session.begin(step_id)
    if memo is None:  # the middleware sees the payload only when it is sent
        data = opts["payload"]["data"]
        if session.middleware:
            data = await session.middleware.transform_invoke(data)
        raise session.suspend(_invoke_op(hashed, unique, opts, data))
    return unwrap_memo(unique, memo)


def _invoke_sync(session: StepSession, step_id: str, opts: dict[str, Any]) -> Any:
    unique, hashed, memo = session.begin(step_id)  # in this thread: its step context is here
    if memo is None:
        data = opts["payload"]["data"]
        if session.middleware:
            data = session.call_soon(session.middleware.transform_invoke(data))
        raise session.suspend(_invoke_op(hashed, unique, opts, data))
    return unwrap_memo(unique, memo)


def _invoked_slug(
    function: Invocable | str | None, app_id: str | None, function_id: str | None
) -> str:
    """A function object or its slug, or an app's id and the function's id in it (any app's
    function, as on a server: the slug is ``<app id>-<function id>``)."""
    if function is not None:
        if app_id is not None or function_id is not None:
            raise ConfigError("invoke takes function=, or app_id= and function_id=, not both")
        return function if isinstance(function, str) else function.slug
    if not app_id or not function_id:
        raise ConfigError("invoke needs function=, or both app_id= and function_id=")
    return f"{app_id}-{function_id}"


def _send_op(
    session: StepSession, step_id: str, events: SendInput | Sequence[SendInput]
) -> tuple[list[str] | None, Op | None]:
    """The ids if the events were already sent; otherwise the op that sends them."""
    unique, hashed, memo = session.begin(step_id)
    if memo is not None:  # a send that failed for good replays as its StepError
        return list(unwrap_memo(unique, memo)), None
    items: list[SendInput] = (
        [events] if isinstance(events, Event | Mapping) or is_event_data(events) else list(events)
    )
    batch = [to_event(e) for e in items]
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

    @overload
    async def run(
        self,
        step_id: str,
        fn: Callable[..., Awaitable[Any]] | Callable[..., Any],
        *args: Any,
        output_type: type[R],
        **kwargs: Any,
    ) -> R: ...
    @overload
    async def run(
        self, step_id: str, fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs
    ) -> R: ...
    @overload
    async def run(
        self, step_id: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs
    ) -> R: ...
    # A lambda with defaults (``lambda i=i: i``), which mypy cannot bind to P: only when
    # called without arguments, so that arguments given are always checked against ``fn``.
    @overload
    async def run(  # type: ignore[overload-cannot-match]
        self, step_id: str, fn: Callable[..., R]
    ) -> R: ...
    async def run(self, step_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` once, durably. Its result is stored as JSON and comes
        back as ``fn``'s declared return type (or ``output_type=``), also after a replay."""
        hint = _output_hint(fn, kwargs)
        data = await self._session.run_step(step_id, _step_body(fn, args, kwargs, hint))
        return data if hint is NO_HINT else decode(data, hint)

    async def sleep(self, step_id: str, duration: Duration) -> None:
        _sleep(self._session, step_id, duration)

    async def sleep_until(self, step_id: str, until: datetime | str) -> None:
        _sleep_until(self._session, step_id, until)

    @overload
    async def wait_for_event(
        self,
        step_id: str,
        *,
        event: type[E],
        timeout: Duration,
        match: str | None = None,
        if_: str | None = None,
        lookback: Duration | None = None,
    ) -> E | None: ...
    @overload
    async def wait_for_event(
        self,
        step_id: str,
        *,
        event: str,
        timeout: Duration,
        match: str | None = None,
        if_: str | None = None,
        lookback: Duration | None = None,
    ) -> Event | None: ...
    async def wait_for_event(
        self,
        step_id: str,
        *,
        event: str | type[EventData],
        timeout: Duration,
        match: str | None = None,
        if_: str | None = None,
        lookback: Duration | None = None,
    ) -> Any:
        """The first matching event to arrive within ``timeout``, or None. With ``lookback``
        an event received that long before the wait began matches too. Given an
        ``EventData`` class, returns the event's data parsed as that class."""
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
        opts = _invoke_opts(function, data, timeout, app_id, function_id)
        return await _invoke(self._session, step_id, opts)

    async def send_event(self, step_id: str, events: SendInput | Sequence[SendInput]) -> list[str]:
        """Send events (``Event``, dicts, ``EventData`` instances) exactly once: they and this
        step's result are stored together."""
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

    @overload
    def run(
        self, step_id: str, fn: Callable[..., Any], *args: Any, output_type: type[R], **kwargs: Any
    ) -> R: ...
    @overload
    def run(self, step_id: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R: ...
    @overload  # a lambda with defaults, called without arguments (see Step.run)
    def run(self, step_id: str, fn: Callable[..., R]) -> R: ...  # type: ignore[overload-cannot-match]
    def run(self, step_id: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        hint = _output_hint(fn, kwargs)

        def body() -> Any:
            return encode(fn(*args, **kwargs), hint, what="the step's result")

        return decode(self._session.run_step_sync(step_id, body), hint)

    def sleep(self, step_id: str, duration: Duration) -> None:
        _sleep(self._session, step_id, duration)

    def sleep_until(self, step_id: str, until: datetime | str) -> None:
        _sleep_until(self._session, step_id, until)

    @overload
    def wait_for_event(
        self,
        step_id: str,
        *,
        event: type[E],
        timeout: Duration,
        match: str | None = None,
        if_: str | None = None,
        lookback: Duration | None = None,
    ) -> E | None: ...
    @overload
    def wait_for_event(
        self,
        step_id: str,
        *,
        event: str,
        timeout: Duration,
        match: str | None = None,
        if_: str | None = None,
        lookback: Duration | None = None,
    ) -> Event | None: ...
    def wait_for_event(
        self,
        step_id: str,
        *,
        event: str | type[EventData],
        timeout: Duration,
        match: str | None = None,
        if_: str | None = None,
        lookback: Duration | None = None,
    ) -> Any:
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
        opts = _invoke_opts(function, data, timeout, app_id, function_id)
        return _invoke_sync(self._session, step_id, opts)

    def send_event(self, step_id: str, events: SendInput | Sequence[SendInput]) -> list[str]:
        sent, op = _send_op(self._session, step_id, events)
        if op is None:
            assert sent is not None
            return sent
        result: list[str] = self._session.call_soon(self._session.checkpoint_op(op))
        return result
