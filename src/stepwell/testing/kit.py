"""``EngineKit``, what a ``TestEngine`` is: the real engine on a throwaway SQLite database,
under a virtual clock.

Nothing is mocked: events go through ingest and planning, runs through the dispatcher and the
in-process driver, every step is committed to SQLite. Only time is different: it is a
``VirtualClock``, so nothing waits for a timer. ``settle`` waits (in real time, briefly) until
no work is due now; ``advance`` and ``finish`` then move the clock straight to the next timer.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

from stepwell.core.backoff import Backoff, FixedBackoff
from stepwell.core.ids import new_ulid
from stepwell.core.limits import DEFAULT_MAX_EVENT_BYTES
from stepwell.core.runs import RunStatus
from stepwell.drivers.inprocess import InProcessDriver
from stepwell.engine.engine import Engine
from stepwell.engine.ingest import EventInput
from stepwell.engine.invocation import invocation_event
from stepwell.engine.registry import Registry
from stepwell.ports.driver import Checkpoint, Draining, ExecutionRequest, Outcome
from stepwell.ports.records import RunRecord
from stepwell.protocol.durations import to_ms
from stepwell.sdk.app import App
from stepwell.sdk.flow_types import to_timedelta
from stepwell.sdk.function import Function
from stepwell.sdk.runtime import run_in_process
from stepwell.sdk.types import Duration
from stepwell.testing.clock import VirtualClock
from stepwell.testing.results import RunResult, describe, holds, read_result, wanted
from stepwell.testing.store import WatchedStore
from stepwell.testing.stubs import StepStub, StepStubs, stubbed

P = ParamSpec("P")
R = TypeVar("R")
RunRef = RunRecord | RunResult | str
"""A run: as ``trigger`` returned it, a result, or its id."""
FunctionRef = Function[Any] | str
"""A function: the object, or its slug (``<app id>-<function id>``)."""

LEASE_MS = 10 * 366 * 24 * 3600 * 1000  # virtual time jumps far: leases must outlast any jump
DEFAULT_TIMEOUT_S = 10.0
MAX_JUMPS = 100_000


class NotReached(AssertionError):
    """What a test waited for cannot happen: the engine is idle (or the time ran out) and
    the condition still does not hold. Says what the run is doing instead."""


def _run_id(run: RunRef) -> str:
    return run if isinstance(run, str) else run.run_id


def _slug(fn: FunctionRef) -> str:
    return fn if isinstance(fn, str) else fn.slug


def on_engine_loop(
    method: Callable[Concatenate[EngineKit, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[EngineKit, P], Coroutine[Any, Any, R]]:
    """Run the method on the engine's event loop when called from another one (the pytest
    fixture keeps the engine on a thread of its own, so any async test can use it)."""

    @functools.wraps(method)
    async def call(engine: EngineKit, /, *args: P.args, **kwargs: P.kwargs) -> R:
        loop = engine._loop
        if loop is None or loop is asyncio.get_running_loop():
            return await method(engine, *args, **kwargs)
        future = asyncio.run_coroutine_threadsafe(method(engine, *args, **kwargs), loop)
        return await asyncio.wrap_future(future)

    return call


class EngineKit:
    """Everything ``TestEngine`` does but ``TestEngine.sync`` (see ``stepwell.testing``)."""

    def __init__(
        self,
        app: App,
        *,
        start: datetime | None = None,
        database: str | None = None,
        steps: Mapping[FunctionRef, Mapping[str, StepStub]] | None = None,
        retry_interval: Duration | None = None,
        backoff: Backoff | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        """``database``: a temporary SQLite file by default, ``":memory:"``, or a path.
        ``steps``: stubs for every run of a function, ``{fn: {"step id": stub}}``.
        ``retry_interval`` / ``backoff`` as in ``app.embedded`` (Inngest's table otherwise;
        its waits are virtual anyway). ``timeout``: the real seconds any wait may take."""
        self.app = app
        self.clock = VirtualClock(start)
        self.started_at = self.clock.now
        self.timeout = timeout
        if retry_interval is not None:
            backoff = FixedBackoff(to_timedelta(retry_interval).total_seconds())
        self._tmp: Path | None = None
        if database is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="stepwell-test-"))
            database = str(self._tmp / "stepwell.db")
        elif database.startswith("sqlite:"):
            database = database.split("sqlite://", 1)[1].removeprefix("/") or ":memory:"
        self.store = WatchedStore(database)
        self._by_function = {_slug(f): StepStubs.of(s) for f, s in (steps or {}).items()}
        self._by_event: dict[str, tuple[str, StepStubs]] = {}
        self._run_stubs: dict[str, StepStubs | None] = {}
        self._executing = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        registry = Registry()
        for fn in app.functions.values():
            registry.add(fn.spec)
        self.engine = Engine(
            store=self.store,
            registry=registry,
            driver=InProcessDriver({f.slug: self._local(f) for f in app.functions.values()}),
            clock=self.clock,
            backoff=backoff,
            max_event_bytes=max_event_bytes,
            lease_ms=LEASE_MS,
            poll_interval=0.25,
            shutdown_grace=2.0,
            event_check=app.event_types.check if app.event_types else None,
        )

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self.engine.start()
        for wake in self.store.wakers:
            self.clock.on_move(wake, self._loop)

    async def stop(self) -> None:
        for wake in self.store.wakers:
            self.clock.forget(wake)
        try:
            await self.engine.stop()
        finally:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- stubs -----------------------------------------------------------------------------

    def stub(self, fn: FunctionRef, steps: Mapping[str, StepStub]) -> None:
        """Stub steps of every run of ``fn`` from now on (a run's own stubs win)."""
        self._by_function[_slug(fn)] = StepStubs.of(steps)
        self._run_stubs.clear()

    def stub_calls(self, run: RunRef) -> dict[str, int]:
        """How many times each stub of the run was used, by step id."""
        stubs = self._run_stubs.get(_run_id(run))
        return dict(stubs.calls) if stubs is not None else {}

    def _local(
        self, fn: Function[Any]
    ) -> Callable[[ExecutionRequest, Checkpoint, Draining], Coroutine[Any, Any, Outcome]]:
        entry = stubbed(fn.entrypoint, self._stubs_of)

        async def execute(
            request: ExecutionRequest, checkpoint: Checkpoint, draining: Draining
        ) -> Outcome:
            self._executing += 1
            try:
                return await run_in_process(entry, request, checkpoint, draining)
            finally:
                self._executing -= 1

        return execute

    async def _stubs_of(self, run_id: str) -> StepStubs | None:
        if run_id not in self._run_stubs:
            run = await self.store.get_run(run_id)
            stubs = self._by_function.get(run.function_id) if run is not None else None
            for event_id in run.event_ids if run is not None else []:
                target = self._by_event.get(event_id)
                if target is not None and run is not None and target[0] == run.function_id:
                    stubs = target[1] if stubs is None else stubs.merged(target[1])
            self._run_stubs[run_id] = stubs
        return self._run_stubs[run_id]

    # -- events and runs -------------------------------------------------------------------

    @on_engine_loop
    async def send(
        self,
        event: str | EventInput | Sequence[EventInput],
        data: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
    ) -> list[str]:
        """Send events as the app would (``engine.send``); their internal ids."""
        return await self.engine.send(event, data, id=id)

    @on_engine_loop
    async def trigger(
        self,
        fn: Function[Any],
        event: str | EventInput | None = None,
        data: Mapping[str, Any] | None = None,
        *,
        steps: Mapping[str, StepStub] | None = None,
    ) -> RunRecord:
        """Send ``event`` (a name with ``data``, an ``Event``, typed ``EventData``) and
        return the run of ``fn`` it started, with ``steps`` stubbed in it by step id. With no
        event, ``fn`` is invoked with ``data`` (as ``step.invoke`` would)."""
        event_id = new_ulid()
        if steps:
            self._by_event[event_id] = (fn.slug, StepStubs.of(steps))
        if event is None:
            invoked = invocation_event(fn.slug, data)
            await self.engine.send_internal([invoked], internal_ids=[event_id])
        else:
            await self.engine.send(event, data, internal_ids=[event_id])
        runs = await self.store.list_runs(event_id=event_id, function_id=fn.slug)
        if not runs:
            raise NotReached(
                f"the event started no run of {fn.slug} yet: its triggers do not match it, "
                "or flow control held it back (debounce, batch, rate limit, idempotency, a "
                "singleton, a paused function); send it with t.send and look at t.runs()"
            )
        return runs[0]

    @on_engine_loop
    async def runs(
        self, fn: FunctionRef | None = None, *, status: RunStatus | str | None = None
    ) -> list[RunRecord]:
        """Runs (of ``fn``, in ``status``), oldest first."""
        found = await self.store.list_runs(
            function_id=None if fn is None else _slug(fn), limit=10_000
        )
        return [r for r in reversed(found) if status is None or r.status == status]

    @on_engine_loop
    async def result(self, run: RunRef) -> RunResult:
        """The run as it is now, with its steps (``result.steps["id"]``)."""
        record = await self.store.get_run(_run_id(run))
        if record is None:
            raise LookupError(f"no run with id {_run_id(run)!r}")
        return await read_result(self.store, record)

    # -- time ------------------------------------------------------------------------------

    @on_engine_loop
    async def settle(self, timeout: float | None = None) -> None:
        """Wait (in real time) until no work is due at the current virtual time: every run
        is waiting for a timer, an event, or has ended."""
        await self._settle(time.monotonic() + (timeout or self.timeout))

    async def _settle(self, deadline: float) -> int | None:
        """Idle at the current virtual time; when the next timer is due (None: none)."""
        calm = 0
        while True:
            state = await self.store.queue_state(self.clock.now_ms())
            if state.due_now == 0 and self._executing == 0:
                calm += 1
                if calm >= 2:  # twice, a turn of the loop apart
                    return state.next_due_at
                await asyncio.sleep(0)
                continue
            calm = 0
            if time.monotonic() > deadline:
                raise NotReached(
                    f"the engine did not go idle in time: {state.due_now} item(s) due at "
                    f"{self.clock.now.isoformat()} ({', '.join(state.due_items)}), "
                    f"{self._executing} execution(s) running"
                )
            await self.store.next_commit(min(0.05, max(0.0, deadline - time.monotonic())))

    @on_engine_loop
    async def advance(self, duration: Duration) -> datetime:
        """Move time ahead by ``duration``, timer by timer: each due timer fires and what it
        starts runs before the clock moves on, so a chain of timers inside the window all
        fire (a sleep, then a retry, then a cron tick…). Returns the new time."""
        deadline = time.monotonic() + self.timeout
        target = self.clock.now_ms() + to_ms(to_timedelta(duration))
        for _ in range(MAX_JUMPS):
            following = await self._settle(deadline)
            if following is None or following > target:
                break
            self.clock.set_ms(following)
        self.clock.set_ms(max(target, self.clock.now_ms()))
        await self._settle(deadline)
        return self.clock.now

    @on_engine_loop
    async def wait_until(
        self,
        run: RunRef,
        *,
        waiting_for: str | None = None,
        step: str | None = None,
        status: RunStatus | str | None = None,
        timeout: float | None = None,
    ) -> RunResult:
        """Wait until the run waits on step ``waiting_for`` (a sleep, ``wait_for_event``,
        ``invoke`` or signal), has step ``step`` stored, or is in ``status``: whichever are
        given. Time does not move; once the engine is idle without it, ``NotReached``."""
        await self._settle(time.monotonic() + (timeout or self.timeout))
        result = await self.result(run)
        if holds(result, waiting_for, step, status):
            return result
        raise NotReached(
            f"run {result.run_id} is idle at {self.clock.now.isoformat()} and "
            f"{wanted(waiting_for, step, status)} does not hold: {describe(result)}"
        )

    @on_engine_loop
    async def finish(
        self, run: RunRef, *, auto_skip: bool = True, timeout: float | None = None
    ) -> RunResult:
        """Let the run end and return it. With ``auto_skip`` (the default), whenever the
        engine is idle the clock jumps to the next timer (sleeps, timeouts, retries, and any
        cron or debounce due meanwhile), so a week of sleeps takes milliseconds. Without it,
        wait in real time for something else (another task) to move the run on."""
        deadline = time.monotonic() + (timeout or self.timeout)
        for _ in range(MAX_JUMPS):
            following = await self._settle(deadline)
            result = await self.result(run)
            if result.status.is_terminal:
                return result
            if not auto_skip:
                if time.monotonic() > deadline:
                    break
                await self.store.next_commit(min(0.05, max(0.0, deadline - time.monotonic())))
                continue
            if following is None:
                raise NotReached(
                    f"run {result.run_id} can never end: nothing is due any more and it is "
                    f"{describe(result)}"
                )
            self.clock.set_ms(following)
        result = await self.result(run)
        raise NotReached(f"run {result.run_id} did not end in time: {describe(result)}")

    @property
    def elapsed(self) -> timedelta:
        """Virtual time since the engine started."""
        return self.clock.now - self.started_at
