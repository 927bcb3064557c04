"""A user function: its configuration and how it is entered for one execution."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Generic, TypeVar, get_args, get_type_hints

from stepwell.engine.ingest import DataCheck
from stepwell.engine.registry import FunctionSpec
from stepwell.ports.driver import Checkpoint, Draining, ExecutionRequest, Outcome
from stepwell.sdk.context import Context, SyncContext
from stepwell.sdk.events import typed_class
from stepwell.sdk.middleware import Middleware, Pipeline
from stepwell.sdk.runtime import StepSession, run_in_process
from stepwell.sdk.serialization import NO_HINT, decode, encode, return_hint
from stepwell.sdk.step import Step, SyncStep

if TYPE_CHECKING:
    from stepwell.sdk.event_data import EventData

R = TypeVar("R")


def declared_data_type(
    handler: Callable[..., Any], trigger_types: list[type[EventData] | None]
) -> type[EventData] | None:
    """The event data type: ``ctx: Context[OrderPlaced]``'s, else the triggers' (all one)."""
    try:
        hints = get_type_hints(handler)
        params = list(inspect.signature(handler).parameters)
    except Exception:  # unresolvable annotations: fall back to the triggers
        hints, params = {}, []
    if params and params[0] in hints:
        for arg in get_args(hints[params[0]]):
            if typed_class(arg) is not None:
                return typed_class(arg)
    distinct = set(trigger_types)
    return distinct.pop() if len(distinct) == 1 else None


class Function(Generic[R]):
    def __init__(
        self,
        spec: FunctionSpec,
        handler: Callable[..., Any],
        threads: Callable[[], ThreadPoolExecutor],
        trigger_types: list[type[EventData] | None] | None = None,
        *,
        middleware: Sequence[Middleware] = (),
        strict_determinism: bool = True,
        event_check: DataCheck | None = None,
    ) -> None:
        self.spec = spec
        self.handler = handler
        self.is_async = inspect.iscoroutinefunction(handler)
        self._threads = threads
        self._logger = logging.getLogger(f"stepwell.fn.{spec.slug}")
        self.data_type = declared_data_type(handler, trigger_types or [])
        self.output_hint: Any = return_hint(handler)
        # The app's middleware first, then the function's own.
        self.middleware = Pipeline(middleware, event_check)
        self.strict_determinism = strict_determinism
        functools.update_wrapper(self, handler)  # type: ignore[arg-type]

    @property
    def slug(self) -> str:
        return self.spec.slug

    @property
    def id(self) -> str:
        return self.spec.local_id

    async def entrypoint(self, session: StepSession) -> Any:
        """The function's result, encoded to JSON by its declared return type, then handed
        through the middleware."""
        await session.enter(self.middleware, self.strict_determinism)
        if not self.middleware:  # no hooks to await around the call
            return await self._call(session)
        await self.middleware.before_execution(session.run_id)
        try:
            result = await self._call(session)
        finally:
            await self.middleware.after_execution(session.run_id)
        return await self.middleware.transform_output(result)

    async def _call(self, session: StepSession) -> Any:
        if self.is_async:
            ctx: Context[Any] = Context(session, Step(session), self._logger, self.data_type)
            result = await self.handler(ctx)
        else:
            sync_ctx: SyncContext[Any] = SyncContext(
                session, SyncStep(session), self._logger, self.data_type
            )
            loop = asyncio.get_running_loop()
            call = functools.partial(contextvars.copy_context().run, self.handler, sync_ctx)
            result = await loop.run_in_executor(self._threads(), call)
        return encode(result, self.output_hint, what="the function's result")

    def decode_output(self, output: Any) -> R:
        """A run's stored output as this function's declared return type (decrypted first, if
        its middleware encrypted it)."""
        if self.middleware:
            output = self.middleware.read_output(output)
        result: R = decode(output, self.output_hint) if self.output_hint is not NO_HINT else output
        return result

    async def execute(
        self, request: ExecutionRequest, checkpoint: Checkpoint, draining: Draining
    ) -> Outcome:
        """One execution in this process (the in-process driver's ``LocalFunction``)."""
        return await run_in_process(self.entrypoint, request, checkpoint, draining)

    def __repr__(self) -> str:
        return f"<stepwell.Function {self.slug}>"
