"""Middleware: hooks around an execution, its steps, its input and output, sent events and
invoke payloads.

Subclass ``Middleware`` and override the hooks you need (each is async, a no-op by default).
Register instances on the app (``App(..., middleware=[...])``) or on one function
(``app.function(..., middleware=[...])``); the app's come first. Hooks that happen "before"
or transform what comes in run in that order; hooks that happen "after" or transform what goes
out run in reverse, so each middleware wraps the ones registered after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stepwell.core.memo import decode_memo, wrap_data
from stepwell.engine.ingest import DataCheck, InvalidEventError

__all__ = ["Middleware", "Pipeline"]


class Middleware:
    async def before_execution(self, run_id: str) -> None:
        """An execution of the run begins (before the function is entered)."""

    async def after_execution(self, run_id: str) -> None:
        """The function returned, raised or stopped to wait."""

    async def transform_input(self, data: dict[str, Any]) -> dict[str, Any]:
        """The data of each event, as the function will see it."""
        return data

    async def transform_stored(self, value: Any) -> Any:
        """A stored step result read back for the replay (the inverse of ``transform_step``)."""
        return value

    async def before_step(self, step_id: str) -> None:
        """A ``step.run`` body is about to run in this execution."""

    async def after_step(self, step_id: str, result: Any) -> None:
        """A ``step.run`` body returned ``result`` (JSON, before ``transform_step``)."""

    async def transform_step(self, step_id: str, result: Any) -> Any:
        """A step's JSON result as it is to be stored; the function still gets ``result``.
        Also sees the responses of ``step.fetch`` and ``step.ai.infer`` when this process
        makes the request (in process; over HTTP the server makes and stores it)."""
        return result

    async def transform_output(self, output: Any) -> Any:
        """The function's JSON result as it is to be stored."""
        return output

    async def before_send_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Events a ``send_event`` step is about to send (wire dicts)."""
        return events

    async def transform_invoke(self, data: dict[str, Any]) -> dict[str, Any]:
        """The data a ``step.invoke`` is about to send: the invoked function's event data."""
        return data

    def read_output(self, output: Any) -> Any:
        """A run's stored output read back for its caller (``engine.invoke``, ``Client.invoke``):
        the inverse of ``transform_output``. Plain, not async: decoding a result is."""
        return output


class Pipeline:
    """A function's middleware in order, with each hook applied across all of them."""

    def __init__(
        self, middleware: Sequence[Middleware] = (), event_check: DataCheck | None = None
    ) -> None:
        self.inward = list(middleware)
        # The app's typed events: what a step sends is checked as engine.send checks it,
        # before any middleware changes it (encryption) and before anything is stored.
        self.event_check = event_check
        self.outward = list(reversed(self.inward))
        self.active = bool(self.inward)
        """Whether any middleware is registered (an attribute: every step asks)."""

    def __bool__(self) -> bool:
        return self.active

    async def before_execution(self, run_id: str) -> None:
        for mw in self.inward:
            await mw.before_execution(run_id)

    async def after_execution(self, run_id: str) -> None:
        for mw in self.outward:
            await mw.after_execution(run_id)

    async def transform_input(self, data: dict[str, Any]) -> dict[str, Any]:
        for mw in self.inward:
            data = await mw.transform_input(data)
        return data

    async def transform_stored(self, value: Any) -> Any:
        for mw in self.inward:
            value = await mw.transform_stored(value)
        return value

    async def events_in(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The execution's events with their data transformed for the function."""
        return [
            {**raw, "data": await self.transform_input(dict(raw.get("data") or {}))}
            for raw in events
        ]

    async def memo_in(self, memo: dict[str, Any]) -> None:
        """Stored step results transformed back in place (errors are kept as they are)."""
        for hashed, stored in list(memo.items()):
            value = decode_memo(stored)
            if value.error is None:
                changed = await self.transform_stored(value.value)
                if changed is not value.value:
                    memo[hashed] = wrap_data(changed)

    async def events_out(self, events: list[Any]) -> list[dict[str, Any]]:
        """Events about to be sent, as wire dicts, after every ``before_send_events``."""
        wire = [e.to_wire() if hasattr(e, "to_wire") else dict(e) for e in events]
        if self.event_check is not None:
            for index, event in enumerate(wire):
                data = event.get("data")
                problem = self.event_check(str(event.get("name")), data or {})
                if problem is not None:
                    raise InvalidEventError(index, problem)
        return await self.before_send_events(wire) if self.active else wire

    async def before_step(self, step_id: str) -> None:
        for mw in self.inward:
            await mw.before_step(step_id)

    async def after_step(self, step_id: str, result: Any) -> Any:
        """Tell every middleware, then transform the result for storage."""
        for mw in self.outward:
            await mw.after_step(step_id, result)
        return await self.transform_step(step_id, result)

    async def transform_step(self, step_id: str, result: Any) -> Any:
        """A result to store that no step body produced (``step.fetch``, ``step.ai.infer``)."""
        for mw in self.outward:
            result = await mw.transform_step(step_id, result)
        return result

    async def transform_output(self, output: Any) -> Any:
        for mw in self.outward:
            output = await mw.transform_output(output)
        return output

    async def before_send_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        for mw in self.outward:
            events = await mw.before_send_events(events)
        return events

    async def transform_invoke(self, data: dict[str, Any]) -> dict[str, Any]:
        for mw in self.outward:  # an "after" hook, as sending events is
            data = await mw.transform_invoke(data)
        return data

    def read_output(self, output: Any) -> Any:
        for mw in self.inward:  # undoes transform_output, which ran outward
            output = mw.read_output(output)
        return output
