"""``SyncTestEngine``: a ``TestEngine`` for plain ``def`` tests (``TestEngine.sync(app)``).

The engine runs on an event loop of its own, in a thread started at ``__enter__`` and stopped
at ``__exit__``; each method hands its work to that loop and blocks until it is done. The
virtual clock is the same object (``t.clock``), safe to move from the test's thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

from stepwell.core.runs import RunStatus
from stepwell.engine.engine import Engine
from stepwell.engine.ingest import EventInput
from stepwell.ports.records import RunRecord
from stepwell.sdk.function import Function
from stepwell.sdk.types import Duration
from stepwell.testing.clock import VirtualClock
from stepwell.testing.kit import EngineKit, FunctionRef, RunRef
from stepwell.testing.results import RunResult
from stepwell.testing.stubs import StepStub

R = TypeVar("R")


class SyncTestEngine:
    """``with TestEngine.sync(app) as t:`` (see ``TestEngine`` for each method)."""

    __test__ = False

    def __init__(self, engine: EngineKit) -> None:
        self.async_engine = engine
        """The ``TestEngine`` itself, for async code: its methods may be awaited on any event
        loop (they run on the engine's)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._thread = threading.Thread(target=serve, name="stepwell-test-engine", daemon=True)
        self._thread.start()
        ready.wait()
        self._loop = loop
        self._call(self.async_engine.start())

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            self._call(self.async_engine.stop())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=30)
            loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> SyncTestEngine:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, R]) -> R:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the test engine is not running: use `with TestEngine.sync(app)`")
        future: Future[R] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result()

    # -- what TestEngine offers, blocking --------------------------------------------------

    @property
    def clock(self) -> VirtualClock:
        return self.async_engine.clock

    @property
    def started_at(self) -> datetime:
        return self.async_engine.started_at

    @property
    def elapsed(self) -> timedelta:
        return self.async_engine.elapsed

    @property
    def engine(self) -> Engine:
        """The engine itself; its coroutines must run on its loop (see ``call``)."""
        return self.async_engine.engine

    def call(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run any coroutine on the engine's loop, e.g. ``t.call(t.engine.cancel(run_id))``."""
        return self._call(coro)

    def stub(self, fn: FunctionRef, steps: Mapping[str, StepStub]) -> None:
        self.async_engine.stub(fn, steps)

    def stub_calls(self, run: RunRef) -> dict[str, int]:
        return self.async_engine.stub_calls(run)

    def send(
        self,
        event: str | EventInput | Sequence[EventInput],
        data: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
    ) -> list[str]:
        return self._call(self.async_engine.send(event, data, id=id))

    def trigger(
        self,
        fn: Function[Any],
        event: str | EventInput | None = None,
        data: Mapping[str, Any] | None = None,
        *,
        steps: Mapping[str, StepStub] | None = None,
    ) -> RunRecord:
        return self._call(self.async_engine.trigger(fn, event, data, steps=steps))

    def runs(
        self, fn: FunctionRef | None = None, *, status: RunStatus | str | None = None
    ) -> list[RunRecord]:
        return self._call(self.async_engine.runs(fn, status=status))

    def result(self, run: RunRef) -> RunResult:
        return self._call(self.async_engine.result(run))

    def settle(self, timeout: float | None = None) -> None:
        self._call(self.async_engine.settle(timeout))

    def advance(self, duration: Duration) -> datetime:
        return self._call(self.async_engine.advance(duration))

    def wait_until(
        self,
        run: RunRef,
        *,
        waiting_for: str | None = None,
        step: str | None = None,
        status: RunStatus | str | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        return self._call(
            self.async_engine.wait_until(
                run, waiting_for=waiting_for, step=step, status=status, timeout=timeout
            )
        )

    def finish(
        self, run: RunRef, *, auto_skip: bool = True, timeout: float | None = None
    ) -> RunResult:
        return self._call(self.async_engine.finish(run, auto_skip=auto_skip, timeout=timeout))
