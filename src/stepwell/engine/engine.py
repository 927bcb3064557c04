"""The engine's front door: send events, look at runs, cancel them, wait for them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

from stepwell.core.backoff import Backoff, TableBackoff
from stepwell.core.ids import new_ulid
from stepwell.core.limits import DEFAULT_MAX_EVENT_BYTES
from stepwell.engine import gc_tuning
from stepwell.engine.committer import Committer
from stepwell.engine.concurrency import ConcurrencyGate
from stepwell.engine.cron import CronScheduler
from stepwell.engine.dispatcher import Dispatcher
from stepwell.engine.execution import Executions
from stepwell.engine.executor import Executor
from stepwell.engine.ingest import DataCheck, EventInput, SendsAsEvent, validate_batch
from stepwell.engine.invocation import InvokeTarget, invocation_event, invocation_result
from stepwell.engine.lifecycle import Lifecycle
from stepwell.engine.plan import Lease, Plan, planned
from stepwell.engine.planner import Planner
from stepwell.engine.registry import Registry
from stepwell.engine.retention import RetentionTask
from stepwell.engine.shared_concurrency import SharedConcurrencyGate
from stepwell.ports.clock import Clock, SystemClock
from stepwell.ports.driver import Driver
from stepwell.ports.history import History
from stepwell.ports.records import RunRecord, StoredEvent
from stepwell.ports.retention import Pruner
from stepwell.ports.store import Store
from stepwell.ports.telemetry import NO_TELEMETRY, Telemetry
from stepwell.protocol.events import Event

R = TypeVar("R")


class Engine:
    def __init__(
        self,
        *,
        store: Store,
        registry: Registry,
        driver: Driver,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        lease_ms: int = 30_000,
        poll_interval: float = 1.0,
        max_concurrency: int = 1000,
        shutdown_grace: float = 10.0,
        retention_ms: int | None = None,
        executes: bool = True,
        event_check: DataCheck | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
        tune_gc: bool = True,
        checkpointing: bool = False,
    ) -> None:
        self.store = store
        self._tune_gc = tune_gc  # the collector runs less often while we run: gc_tuning.py
        self._event_check = event_check  # the SDK's typed event data, checked on send
        # A process that only looks and acts (a dashboard on a shared database) executes
        # nothing: it claims no work, leases none to itself and schedules no crons.
        self.executes = executes
        self._driver = driver
        self._shutdown_grace = shutdown_grace
        self.registry = registry
        self._clock = clock or SystemClock()
        self._max_event_bytes = max_event_bytes
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{new_ulid()}"
        self._planner = Planner(registry, store, Lease(self.owner if executes else None, lease_ms))
        self._cron = CronScheduler(registry, store, self._planner, self._clock)
        # Processes sharing a database (PostgreSQL) keep concurrency slots in it.
        self.concurrency: ConcurrencyGate | SharedConcurrencyGate = (
            SharedConcurrencyGate(store, self._clock, lease_ms=lease_ms)
            if getattr(store, "shared", False)
            else ConcurrencyGate()
        )
        self._dispatcher = Dispatcher(
            store=store,
            clock=self._clock,
            owner=self.owner,
            lease_ms=lease_ms,
            poll_interval_s=poll_interval,
        )
        self._committer = Committer(
            store=store, planner=self._planner, clock=self._clock, handoff=self._dispatcher
        )
        self.telemetry = self._committer.telemetry = telemetry  # logs, metrics, traces
        self.lifecycle = Lifecycle(
            store=store,
            endpoint_store=store,
            registry=registry,
            planner=self._planner,
            clock=self._clock,
            committer=self._committer,
        )
        executions = Executions(
            store=store,
            registry=registry,
            planner=self._planner,
            driver=driver,
            clock=self._clock,
            backoff=backoff or TableBackoff(),
            committer=self._committer,
            max_event_bytes=max_event_bytes,
            gate=self.concurrency,
            max_concurrency=max_concurrency,
            checkpointing=checkpointing,
        )
        self._dispatcher.attach(
            Executor(
                store=store,
                planner=self._planner,
                clock=self._clock,
                committer=self._committer,
                cron=self._cron,
                executions=executions,
                find_function=self.lifecycle.endpoints.find,
            )
        )
        self._started = False
        # With a window, ended runs and unneeded events older than it are pruned in the
        # background; without one (None) nothing is ever deleted.
        self.retention: RetentionTask | None = None
        if retention_ms is not None:
            if not isinstance(store, Pruner):
                raise TypeError(f"retention needs a store that can prune; {store!r} cannot")
            self.retention = RetentionTask(store, self._clock, window_ms=retention_ms)

    @property
    def history(self) -> History:
        """What has happened, to read: runs, events, steps and their trace (never to write)."""
        return self.store

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self, on_open: Callable[[], Awaitable[None]] | None = None) -> None:
        """Open the store, run ``on_open`` (e.g. load synced apps), then start executing."""
        await self.store.open()
        if self.executes:
            # Other processes' commits of due work wake our poller at once (PostgreSQL NOTIFY).
            await self.store.listen(self._dispatcher.wake_at)
        if on_open is not None:
            await on_open()
        # After the synced apps (``on_open``), which keep their slugs.
        await self.lifecycle.endpoints.load()
        await self.lifecycle.load_paused()
        self._started = True
        if self._tune_gc:
            gc_tuning.engine_started()
        await self.reconcile_crons()
        if self.executes:
            self._dispatcher.start()
        if self.retention is not None:
            self.retention.start()

    async def stop(self) -> None:
        """Stop: running executions end at their next step boundary and stay queued, so the
        next start carries on from there (a step body already running is allowed to finish
        for up to ``shutdown_grace`` seconds)."""
        if self._started:
            self._started = False
            if self.retention is not None:
                await self.retention.stop()  # before the store closes under it
            self._driver.drain()
            self.concurrency.close()  # runs only waiting for a slot end now, not after grace
            await self._dispatcher.stop(self._shutdown_grace)
            await self.store.close()
            self.telemetry.close()
            if self._tune_gc:
                gc_tuning.engine_stopped()

    async def database_problem(self, timeout_s: float = 2.0) -> str | None:
        """Why the database cannot be reached right now, or None when it answers."""
        if not self._started:
            return "the engine is not running"
        try:
            await asyncio.wait_for(self.store.ping(), timeout_s)
        except TimeoutError:
            return f"the database did not answer within {timeout_s:g} s"
        except Exception as exc:  # any driver error means the same thing here: unreachable
            return f"the database cannot be reached: {type(exc).__name__}: {exc}"
        return None

    def _require_started(self) -> None:
        if not self._started:
            raise RuntimeError(
                "the engine is not running: use `async with app.embedded(...) as engine:`"
            )

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- events ------------------------------------------------------------------------------

    async def send(
        self,
        event: str | type[SendsAsEvent] | EventInput | Sequence[EventInput],
        data: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,  # the field is called id on the wire too
        internal_ids: list[str] | None = None,
        loaded: bool = False,
    ) -> list[str]:
        """Store events durably, start what they trigger, and return their internal ids.

        ``send("shop/order.placed", {"order_id": 7})``, ``send(Event(...))`` or a list of
        events, or typed ``EventData`` (an instance, or its class with ``data``), checked
        against its declared type. ``internal_ids`` fixes our ids (derived from an SDK's id
        seed, so retried sends get the same ones). Refuses the whole batch with
        ``InvalidEventError`` if any event is invalid. ``loaded``: the events are as
        ``json_values.loads`` returned them (the event API's body), so cheaper to encode.
        """
        if isinstance(event, type):  # an EventData class: its name
            event = str(getattr(event, "event_name", "") or "")
        if isinstance(event, str):
            batch: Sequence[EventInput] = [Event(name=event, data=dict(data or {}), id=id or "")]
        else:  # a list is told apart first: a Protocol's isinstance costs microseconds
            one = not isinstance(event, list) and isinstance(event, Event | Mapping | SendsAsEvent)
            batch = [event] if one else list(event)  # type: ignore[arg-type, list-item]
        stored = self.validate(batch, internal_ids, loaded=loaded)
        await self.ingest(stored)
        return [e.internal_id for e in stored]

    def validate(
        self, batch: Sequence[EventInput], ids: list[str] | None = None, *, loaded: bool = False
    ) -> list[StoredEvent]:
        """``send``'s checks alone: the events as ``ingest`` would store them."""
        now, limit = self._clock.now_ms(), self._max_event_bytes
        return validate_batch(
            batch, now_ms=now, max_bytes=limit, ids=ids, check_data=self._event_check, loaded=loaded
        )

    async def invoke(
        self,
        fn: InvokeTarget[R],
        data: Mapping[str, Any] | SendsAsEvent | None = None,
        *,
        timeout: float = 30.0,
    ) -> R:
        """Run ``fn`` on ``data``, wait for its run and return its result (or raise its error)."""
        if self.registry.get(fn.slug) is None:
            raise LookupError(f"function {fn.slug!r} not found")
        [event_id] = await self.send_internal([invocation_event(fn.slug, data)])
        return invocation_result(fn, (await self.wait_for_runs(event_id, timeout=timeout))[0])

    async def send_internal(
        self, events: Sequence[EventInput], *, internal_ids: list[str] | None = None
    ) -> list[str]:
        """Like ``send``, for events the server itself makes (reserved ``inngest/`` names)."""
        stored = validate_batch(
            events,
            now_ms=self._clock.now_ms(),
            max_bytes=self._max_event_bytes,
            allow_internal=True,
            ids=internal_ids,
        )
        await self.ingest(stored, internal_names=True)
        return [e.internal_id for e in stored]

    async def ingest(self, stored: list[StoredEvent], *, internal_names: bool = False) -> None:
        """Store validated events and all they cause in one commit. ``internal_names``: they
        may have reserved names (the engine's own events; ``validate`` refuses those)."""
        self._require_started()

        async def fill(plan: Plan) -> None:
            plan.changes.urgent = True  # the sender waits: ahead of background writes
            if not internal_names:  # planned first, so they lead plan.changes.events
                plan.changes.user_events = len(stored)
            await self._planner.plan_events(stored, plan, self._clock.now_ms())

        await self._committer.commit(planned(fill))

    async def signal(self, signal: str, data: Any) -> str | None:
        """Deliver a signal to the run waiting for it; returns that run's id, or None."""
        self._require_started()
        resumed: list[str | None] = [None]

        async def build() -> Plan:
            plan = Plan()
            resumed[0] = await self._planner.plan_signal(signal, data, plan, self._clock.now_ms())
            return plan

        await self._committer.commit(build)
        return resumed[0]

    send_signal = signal  # the name that pairs with the step tool ``wait_for_signal``

    # -- runs --------------------------------------------------------------------------------

    async def get_run(self, run_id: str) -> RunRecord | None:
        self._require_started()
        return await self.store.get_run(run_id)

    async def list_runs(
        self, *, function_id: str | None = None, event_id: str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        self._require_started()
        return await self.store.list_runs(function_id=function_id, event_id=event_id, limit=limit)

    async def cancel(self, run_id: str) -> bool:
        """Cancel a run that has not ended. Returns False if it had already ended."""
        self._require_started()
        return await self.lifecycle.cancel(run_id)

    async def rerun(self, run_id: str, *, from_step: str | None = None) -> str:
        """Run the run's function again with the same events; returns the new run's id.

        ``from_step`` (a step id) keeps the results stored before that step, so the new run
        carries on from there. Raises LookupError for an unknown run, function or step.
        """
        self._require_started()
        return await self.lifecycle.rerun(run_id, from_step=from_step)

    async def cancel_runs(
        self,
        function_id: str,
        *,
        started_after: int | None = None,
        started_before: int | None = None,
        if_: str | None = None,
    ) -> list[str]:
        """Cancel a function's unfinished runs created in a window (ms since the epoch) and
        matching an optional CEL filter over ``event``; returns their ids."""
        self._require_started()
        return await self.lifecycle.cancel_many(
            function_id,
            started_after=started_after,
            started_before=started_before,
            condition=if_,
        )

    async def pause_function(self, function_id: str) -> None:
        """Start no runs of the function until resumed; its events are kept for ``replay``."""
        self._require_started()
        await self.lifecycle.set_paused(function_id, True)

    async def resume_function(self, function_id: str) -> None:
        self._require_started()
        await self.lifecycle.set_paused(function_id, False)

    async def paused_since(self, function_id: str) -> int | None:
        """When the function was paused (ms since the epoch); None while it is not paused."""
        self._require_started()
        return await self.lifecycle.paused_since(function_id)

    async def replay(
        self, function_id: str, *, received_after: int, received_before: int | None = None
    ) -> list[str]:
        """Start runs for the function's events received in a window (ms); their ids."""
        self._require_started()
        return await self.lifecycle.replay(
            function_id, received_after=received_after, received_before=received_before
        )

    async def wait_for_runs(self, event_id: str, timeout: float = 30.0) -> list[RunRecord]:
        """Wait until the event has at least one run and all its runs have ended."""
        self._require_started()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            ended = self._committer.runs_ended
            runs = await self.store.list_runs(event_id=event_id)
            if runs and all(run.status.is_terminal for run in runs):
                return sorted(runs, key=lambda run: run.run_id)
            remaining = deadline - loop.time()
            if remaining <= 0:
                states = ", ".join(f"{r.run_id}={r.status.value}" for r in runs) or "no runs"
                raise TimeoutError(f"runs of event {event_id} did not end in {timeout}s: {states}")
            # Woken when any run ends; the bound keeps us honest if a wake-up is missed.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), min(remaining, 0.5))

    async def after_sync(self) -> None:
        """Apps changed: schedule their crons, reapply which functions are paused."""
        await self.lifecycle.load_paused()
        await self.reconcile_crons()

    async def reconcile_crons(self) -> None:
        """Schedule the cron triggers of the registered functions (after any sync). Not in a
        process that executes nothing: its registry need not hold every app's functions."""
        self._require_started()
        if not self.executes:
            return
        await self._committer.commit(planned(self._cron.reconcile))
