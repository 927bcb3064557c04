"""``App``: a named group of functions, and the way to run them (embedded, for now)."""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from stepwell.core.backoff import Backoff, FixedBackoff, clamp_retries
from stepwell.core.errors import ConfigError
from stepwell.core.limits import DEFAULT_MAX_EVENT_BYTES, DEFAULT_RETRIES
from stepwell.drivers.inprocess import InProcessDriver
from stepwell.engine.engine import Engine
from stepwell.engine.flow_config import read_cancel_on, read_flow
from stepwell.engine.registry import CronTrigger, EventTrigger, FunctionSpec, Registry
from stepwell.ports.clock import Clock
from stepwell.protocol.durations import to_ms
from stepwell.sdk.checkpointing import checkpointing_on
from stepwell.sdk.events import EventTypes
from stepwell.sdk.flow_types import (
    Batch,
    Cancel,
    Concurrency,
    Debounce,
    Priority,
    RateLimit,
    Singleton,
    Throttle,
    Timeouts,
    as_config,
    to_timedelta,  # raises stepwell.DurationError
)
from stepwell.sdk.function import Function
from stepwell.sdk.middleware import Middleware
from stepwell.sdk.triggers import TypedEventTrigger
from stepwell.store import open_store
from stepwell.telemetry import setup as telemetry_setup

if TYPE_CHECKING:
    from stepwell.sdk.event_data import EventData

SYNC_FUNCTION_THREADS = 64
DEFAULT_DATABASE = "sqlite:///stepwell.db"

Trigger = EventTrigger | CronTrigger
R = TypeVar("R")


class Register(Protocol):
    """What ``app.function(...)`` returns: a decorator keeping the handler's return type."""

    @overload
    def __call__(self, handler: Callable[..., Coroutine[Any, Any, R]]) -> Function[R]: ...
    @overload
    def __call__(self, handler: Callable[..., R]) -> Function[R]: ...


def _cancel_entries(cancel_on: list[Any] | None) -> list[dict[str, Any]] | None:
    """``cancel_on`` entries as dicts; an ``EventData`` class as ``event`` stands for its name."""
    if cancel_on is None:
        return None
    entries = [dict(c) if isinstance(c, dict) else c for c in cancel_on]
    for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get("event"), type):
            entry["event"] = getattr(entry["event"], "event_name", entry["event"])
    return entries


class App:
    def __init__(
        self, app_id: str, *, middleware: Sequence[Middleware] = (), strict_determinism: bool = True
    ) -> None:
        self.middleware, self.strict_determinism = list(middleware), strict_determinism
        if not app_id or not app_id.strip():
            raise ConfigError("an app needs a non-empty id")
        self.id = app_id
        self.functions: dict[str, Function[Any]] = {}
        self.event_types = EventTypes()  # the typed events our functions are triggered by
        self._threads: ThreadPoolExecutor | None = None

    def function(
        self,
        fn_id: str,
        *,
        trigger: Trigger | Sequence[Trigger] | None = None,
        retries: int = DEFAULT_RETRIES,
        name: str | None = None,
        debounce: Debounce | dict[str, Any] | None = None,
        batch_events: Batch | dict[str, Any] | None = None,
        concurrency: int
        | Concurrency
        | dict[str, Any]
        | Sequence[Concurrency | dict[str, Any]]
        | None = None,
        throttle: Throttle | dict[str, Any] | Sequence[Throttle | dict[str, Any]] | None = None,
        rate_limit: RateLimit | dict[str, Any] | None = None,
        idempotency: str | None = None,
        singleton: Singleton | dict[str, Any] | None = None,
        priority: Priority | dict[str, Any] | None = None,
        timeouts: Timeouts | dict[str, Any] | None = None,
        cancel_on: Sequence[Cancel | dict[str, Any]] | None = None,
        on_failure: Callable[..., Any] | None = None,
        middleware: Sequence[Middleware] = (),
        strict_determinism: bool | None = None,
    ) -> Register:
        """Register an ``async def fn(ctx: Context)`` or ``def fn(ctx: SyncContext)``.

        Without a trigger the function runs only when invoked (``step.invoke``).
        Flow control takes the same settings Inngest's SDKs register, e.g.
        ``debounce={"period": "5s", "key": "event.data.user", "timeout": "1m"}`` (add
        ``"events": True`` to get every event of the window) or
        ``batch_events={"max_size": 10, "timeout": "5s", "key": ..., "if": ...}``,
        ``concurrency={"limit": 2, "key": "event.data.tenant"}``,
        ``throttle={"limit": 1, "period": "5s", "burst": 2}`` (or a list: all must pass),
        ``rate_limit={"limit": 1, "period": "1h", "key": ...}``, ``idempotency="event.data.id"``,
        ``singleton={"mode": "skip" | "cancel", "key": ...}``,
        ``priority={"run": "event.data.vip ? 60 : 0"}``,
        ``timeouts={"start": "10s", "finish": "1m"}``,
        ``cancel_on=[{"event": "shop/cancelled", "match": "data.order_id", "timeout": "1d"}]``.
        Each also takes its typed form from ``stepwell`` (``Concurrency(limit=2, key=...)``,
        ``Throttle(...)``, ``Cancel(...)``…), read exactly as the dict it stands for.
        ``on_failure`` is a function run when a run of this one fails for good; its
        ``ctx.event`` is the ``inngest/function.failed`` event (``data.error``, ``data.event``,
        ``data.run_id``). It is registered as ``<fn_id>-failure``, as Inngest's SDKs do.
        """
        triggers: list[Trigger] = (
            [] if trigger is None else [trigger] if isinstance(trigger, Trigger) else list(trigger)
        )
        if len(triggers) > 10:
            raise ConfigError(f"function {fn_id!r}: at most 10 triggers, got {len(triggers)}")
        where = f"function {fn_id!r}"
        cancel_entries = _cancel_entries(as_config(cancel_on))
        flow = read_flow(
            {
                "debounce": as_config(debounce),
                "batch_events": as_config(batch_events),
                "concurrency": as_config(concurrency),
                "throttle": as_config(throttle),
                "rate_limit": as_config(rate_limit),
                "idempotency": idempotency,
                "singleton": as_config(singleton),
                "priority": as_config(priority),
                "timeouts": as_config(timeouts),
                "cancel": cancel_entries,
            },
            where=where,
        )
        spec = FunctionSpec(
            app_id=self.id,
            local_id=fn_id,
            name=name or fn_id,
            triggers=[t for t in triggers if isinstance(t, EventTrigger)],
            crons=[t for t in triggers if isinstance(t, CronTrigger)],
            retries=clamp_retries(retries),
            flow=flow,
            cancel_on=read_cancel_on(cancel_entries, where=f"{where}.cancel_on"),
        )

        trigger_types: list[type[EventData] | None] = [
            t.data_type if isinstance(t, TypedEventTrigger) else None
            for t in triggers
            if isinstance(t, EventTrigger)
        ]

        def register(handler: Callable[..., Any]) -> Function[Any]:
            if fn_id in self.functions:
                raise ConfigError(f"function {fn_id!r} is already registered in app {self.id!r}")
            for data_type in trigger_types:
                if data_type is not None:
                    self.event_types.add(data_type)
            fn: Function[Any] = Function(
                spec,
                handler,
                self._thread_pool,
                trigger_types,
                middleware=[*self.middleware, *middleware],
                strict_determinism=self.strict_determinism
                if strict_determinism is None
                else strict_determinism,
                event_check=self.event_types.check,
            )
            self.functions[fn_id] = fn
            if on_failure is not None:
                failure_id = f"{fn_id}-failure"
                failure_spec = FunctionSpec(
                    app_id=self.id,
                    local_id=failure_id,
                    name=f"{spec.name} (failure)",
                    triggers=[
                        EventTrigger(
                            "inngest/function.failed",
                            f"event.data.function_id == '{spec.slug}'",
                        )
                    ],
                    retries=0,
                )
                self.functions[failure_id] = Function(failure_spec, on_failure, self._thread_pool)
            return fn

        return register

    def _thread_pool(self) -> ThreadPoolExecutor:
        if self._threads is None:
            self._threads = ThreadPoolExecutor(
                max_workers=SYNC_FUNCTION_THREADS, thread_name_prefix=f"stepwell-{self.id}"
            )
        return self._threads

    def embedded(
        self,
        database: str | None = None,
        *,
        retry_interval: timedelta | float | str | None = None,
        backoff: Backoff | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        durability: str = "full",
        poll_interval: float = 1.0,
        max_concurrency: int = 1000,
        shutdown_grace: float = 10.0,
        clock: Clock | None = None,
        retention: timedelta | float | str | None = None,
        metrics: bool = False,
        tune_gc: bool = True,
        checkpointing: bool | None = None,
    ) -> Engine:
        """An engine running this app's functions in this process; use ``async with``.

        ``database`` is a URL (``sqlite:///file.db``, ``postgresql://user@host/db``); without
        one, ``$STEPWELL_DATABASE_URL``, else ``sqlite:///stepwell.db``.

        ``retry_interval`` replaces Inngest's backoff table with a fixed wait (tests, dev).
        ``durability="normal"`` relaxes SQLite's fsync on every commit (faster; a power loss
        may lose the last commits, a process crash still loses nothing).
        ``retention`` (e.g. ``"7d"``) deletes ended runs and unneeded events older than
        that, in the background; without it nothing is ever deleted.
        ``metrics=True`` counts in ``stepwell.metrics.registry`` (needs ``prometheus-client``).
        While it runs, the garbage collector's first threshold is raised from CPython's 700 to
        50,000 (about a third less CPU per run under load), unless the process set its own;
        ``tune_gc=False`` leaves it alone.
        Checkpointing is on unless ``checkpointing=False`` (or ``$STEPWELL_CHECKPOINT=0``): a
        function goes on as soon as a ``step.run`` returns, its result committed in the
        background with the steps that finish meanwhile (one fsync for many steps, as over
        HTTP and as Inngest's checkpointing); a crash may then run again, once, the few steps
        not yet committed. Off, each step is on disk before the next one starts.
        Failed runs are logged to the ``stepwell.runs`` logger; with ``OTEL_EXPORTER_OTLP_*``
        set, runs and steps are exported as OpenTelemetry traces.
        """
        if retry_interval is not None and backoff is not None:
            raise ConfigError("pass retry_interval or backoff, not both")
        if retry_interval is not None:
            backoff = FixedBackoff(to_timedelta(retry_interval).total_seconds())
        database = database or os.environ.get("STEPWELL_DATABASE_URL") or DEFAULT_DATABASE
        retention_ms = None if retention is None else to_ms(to_timedelta(retention))
        registry = Registry()
        for fn in self.functions.values():
            registry.add(fn.spec)
        driver = InProcessDriver({fn.slug: fn.execute for fn in self.functions.values()})
        store = open_store(database, durability=durability)
        telemetry = telemetry_setup.build(metrics=metrics)
        telemetry_setup.install(telemetry, store)
        return Engine(
            store=store,
            registry=registry,
            driver=driver,
            clock=clock,
            backoff=backoff,
            max_event_bytes=max_event_bytes,
            poll_interval=poll_interval,
            max_concurrency=max_concurrency,
            shutdown_grace=shutdown_grace,
            retention_ms=retention_ms,
            event_check=self.event_types.check if self.event_types else None,
            telemetry=telemetry,
            tune_gc=tune_gc,
            checkpointing=checkpointing_on(checkpointing, os.environ),
        )
