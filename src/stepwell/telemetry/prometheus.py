"""Prometheus metrics (the official ``prometheus-client``), in a registry of their own.

Counters and histograms are updated as the engine reports (``PrometheusTelemetry``); gauges of
what is waiting (the due backlog, sleeping and waiting runs, concurrency slots) are read from
the store and the concurrency gate when metrics are collected (``refresh``), so they cost
nothing between scrapes. The metrics are process-wide: every engine of the process adds to the
same counters. The per-step path only touches label children looked up once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from stepwell.ports.history import History
from stepwell.ports.records import ChangeSet, RunRecord, SpanKind, SpanStatus
from stepwell.ports.telemetry import RunEnding

registry = CollectorRegistry()
"""Stepwell's metrics. Expose them with ``prometheus_client.generate_latest(registry)``, or add
them to the default registry: ``prometheus_client.REGISTRY.register(registry)``."""

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_STEP = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60, 300, 3600)
_COMMIT = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

RUNS_STARTED = Counter(
    "stepwell_runs_started", "Runs whose first execution began.", ["function"], registry=registry
)
RUNS_ENDED = Counter(
    "stepwell_runs_ended",
    "Runs that ended, by final status.",
    ["function", "status"],
    registry=registry,
)
RETRIES = Counter(
    "stepwell_retries", "Failed attempts scheduled to be retried.", ["function"], registry=registry
)
STEPS = Counter(
    "stepwell_steps",
    "Step attempts that ended, by kind and outcome (completed, failed for good, errored: to "
    "be retried).",
    ["kind", "outcome"],
    registry=registry,
)
SDK_REQUESTS = Counter(
    "stepwell_sdk_requests",
    "Calls made to SDK apps, by the class of the answer (2xx, 4xx, 5xx; error: none came).",
    ["status"],
    registry=registry,
)
EVENTS = Counter(
    "stepwell_events_received",
    "Events stored, by source (external: sent to us; internal: system events, invocations).",
    ["source"],
    registry=registry,
)
DUE = Gauge("stepwell_queue_due", "Queue items due now that no process holds.", registry=registry)
DUE_AGE = Gauge(
    "stepwell_queue_oldest_due_age_seconds",
    "How long the oldest due item nobody holds has been due (0 when none is).",
    registry=registry,
)
SLEEPING = Gauge("stepwell_runs_sleeping", "Runs in a step.sleep.", registry=registry)
WAITING = Gauge(
    "stepwell_runs_waiting",
    "Runs waiting for an event, an invoked function or a signal.",
    registry=registry,
)
SLOTS = Gauge(
    "stepwell_concurrency_slots_in_use",
    "Concurrency slots held by this process's executions, by function (shared scopes: "
    "their scope).",
    ["function"],
    registry=registry,
)
KEYS = Gauge(
    "stepwell_concurrency_keys",
    "Concurrency keys with a slot held by this process.",
    registry=registry,
)
EVENT_TO_START = Histogram(
    "stepwell_event_to_start_seconds",
    "From an event's arrival to the first execution of the run it started.",
    buckets=_LATENCY,
    registry=registry,
)
STEP_SECONDS = Histogram(
    "stepwell_step_duration_seconds",
    "How long step attempts took, by kind (waits: until they ended).",
    ["kind"],
    buckets=_STEP,
    registry=registry,
)
COMMIT_BATCH = Histogram(
    "stepwell_commit_batch_size",
    "Writes committed together in one database transaction.",
    buckets=_BATCH,
    registry=registry,
)
COMMIT_SECONDS = Histogram(
    "stepwell_commit_seconds",
    "How long each database write transaction took.",
    buckets=_COMMIT,
    registry=registry,
)


class PrometheusTelemetry:
    """The ``Telemetry`` that counts."""

    def __init__(self) -> None:
        self._steps: dict[tuple[SpanKind, SpanStatus], tuple[Any, Any]] = {}
        self._external = EVENTS.labels("external")
        self._internal = EVENTS.labels("internal")
        self._responses: dict[str, Any] = {}

    def execution_started(
        self, function: str, run: RunRecord, attempt: int, queued_ms: int, first_event_ms: int
    ) -> None:
        if first_event_ms >= 0:
            RUNS_STARTED.labels(function).inc()
            EVENT_TO_START.observe(max(0.0, time.time() - first_event_ms / 1000))

    def committed(
        self, changes: ChangeSet, endings: Sequence[RunEnding], skipped_runs: set[str]
    ) -> None:
        if changes.events:
            # Events a sender's ``validate`` passed hold no internal name: only the rest is read.
            events = changes.events
            if changes.user_events:
                events = events[changes.user_events :]
            internal = sum(1 for e in events if e.event.name.startswith("inngest/"))
            if internal:
                self._internal.inc(internal)
            if internal < len(changes.events):
                self._external.inc(len(changes.events) - internal)
        for span in changes.spans:
            if span.ended_at is None:
                continue
            # Keyed by the enums themselves: their .value costs more than the lookup.
            children = self._steps.get((span.kind, span.status))
            if children is None:
                kind, outcome = span.kind.value.lower(), span.status.value.lower()
                children = (STEPS.labels(kind, outcome), STEP_SECONDS.labels(kind))
                self._steps[(span.kind, span.status)] = children
            children[0].inc()
            children[1].observe((span.ended_at - span.started_at) / 1000)
        for ending in endings:
            RUNS_ENDED.labels(ending.run.function_id, ending.status.value.lower()).inc()

    def retrying(
        self,
        function: str,
        run_id: str,
        attempt: int,
        step: str | None,
        error: dict[str, Any] | None,
        delay_s: float,
    ) -> None:
        RETRIES.labels(function).inc()

    def commit_batch(self, size: int, seconds: float) -> None:
        COMMIT_BATCH.observe(size)
        COMMIT_SECONDS.observe(seconds)

    def sdk_response(self, status: int | None) -> None:
        label = "error" if status is None else f"{status // 100}xx"
        child = self._responses.get(label)
        if child is None:
            child = self._responses[label] = SDK_REQUESTS.labels(label)
        child.inc()

    def close(self) -> None:
        pass


class Gate(Protocol):
    def in_use(self) -> dict[str, int]: ...


class Observed(Protocol):
    """What ``refresh`` reads: an engine (``stepwell.Engine`` is one)."""

    @property
    def history(self) -> History: ...

    @property
    def concurrency(self) -> Gate: ...


async def refresh(engine: Observed) -> None:
    """Read the gauges (due backlog, waiting runs, concurrency) from ``engine`` now."""
    now_ms = int(time.time() * 1000)
    backlog = await engine.history.backlog(now_ms)
    DUE.set(backlog.due)
    oldest = backlog.oldest_due_at
    DUE_AGE.set(0 if oldest is None else max(0.0, (now_ms - oldest) / 1000))
    suspended = await engine.history.suspended_runs()
    SLEEPING.set(suspended.sleeping)
    WAITING.set(suspended.waiting)
    by_function: dict[str, int] = {}
    held = engine.concurrency.in_use()
    for key, count in held.items():
        scope, _, rest = key.partition(":")
        name = rest.partition(":")[0] if scope == "fn" else scope
        by_function[name] = by_function.get(name, 0) + count
    SLOTS.clear()
    for name, count in by_function.items():
        SLOTS.labels(name).set(count)
    KEYS.set(len(held))


async def exposition(engine: Observed | None = None) -> tuple[bytes, str]:
    """The metrics in Prometheus's text format and its content type, the gauges read from
    ``engine`` first (when given)."""
    if engine is not None:
        await refresh(engine)
    return generate_latest(registry), CONTENT_TYPE_LATEST
