"""A user function: its configuration and how it is entered for one execution."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from stepwell.engine.registry import FunctionSpec
from stepwell.ports.driver import Checkpoint, Draining, ExecutionRequest, Outcome
from stepwell.sdk.context import Context, SyncContext
from stepwell.sdk.runtime import StepSession, run_in_process
from stepwell.sdk.step import Step, SyncStep

R = TypeVar("R")


class Function(Generic[R]):
    def __init__(
        self,
        spec: FunctionSpec,
        handler: Callable[..., Any],
        threads: Callable[[], ThreadPoolExecutor],
    ) -> None:
        self.spec = spec
        self.handler = handler
        self.is_async = inspect.iscoroutinefunction(handler)
        self._threads = threads
        self._logger = logging.getLogger(f"stepwell.fn.{spec.slug}")
        functools.update_wrapper(self, handler)  # type: ignore[arg-type]

    @property
    def slug(self) -> str:
        return self.spec.slug

    @property
    def id(self) -> str:
        return self.spec.local_id

    async def entrypoint(self, session: StepSession) -> Any:
        if self.is_async:
            return await self.handler(Context(session, Step(session), self._logger))
        ctx = SyncContext(session, SyncStep(session), self._logger)
        loop = asyncio.get_running_loop()
        call = functools.partial(contextvars.copy_context().run, self.handler, ctx)
        return await loop.run_in_executor(self._threads(), call)

    async def execute(
        self, request: ExecutionRequest, checkpoint: Checkpoint, draining: Draining
    ) -> Outcome:
        """One execution in this process (the in-process driver's ``LocalFunction``)."""
        return await run_in_process(self.entrypoint, request, checkpoint, draining)

    def __repr__(self) -> str:
        return f"<stepwell.Function {self.slug}>"
