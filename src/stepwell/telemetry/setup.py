"""Which telemetry an engine gets, and wiring it to the store and the drivers.

Logs always; Prometheus metrics when asked for (a server always asks); OpenTelemetry traces when
the standard ``OTEL_*`` variables name an OTLP endpoint (nothing of OpenTelemetry is imported
otherwise).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from stepwell.core.extras import require_extra
from stepwell.ports.records import ChangeSet, RunRecord
from stepwell.ports.telemetry import RunEnding, Telemetry
from stepwell.telemetry.logs import LogTelemetry

log = logging.getLogger("stepwell.telemetry")

TRACE_MODULES = ("opentelemetry.sdk", "opentelemetry.exporter.otlp")
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def traces_wanted(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for traces: an OTLP endpoint is set, or
    ``OTEL_TRACES_EXPORTER`` names ``otlp``; ``OTEL_SDK_DISABLED=true`` and
    ``OTEL_TRACES_EXPORTER=none`` turn them off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {e.strip().lower() for e in environ.get("OTEL_TRACES_EXPORTER", "").split(",")}
    if "none" in exporters:
        return False
    return "otlp" in exporters or any(environ.get(name, "").strip() for name in _ENDPOINTS)


class Fanout:
    """Tells several adapters; one that raises is logged and does not stop the others (nor
    the engine, whose commit has already happened)."""

    def __init__(self, sinks: Sequence[Telemetry]) -> None:
        self.sinks = tuple(sinks)

    def _failed(self, sink: Telemetry) -> None:
        log.exception("telemetry adapter %s failed", type(sink).__name__)

    def execution_started(
        self, function: str, run: RunRecord, attempt: int, queued_ms: int, first_event_ms: int
    ) -> None:
        for sink in self.sinks:
            try:
                sink.execution_started(function, run, attempt, queued_ms, first_event_ms)
            except Exception:
                self._failed(sink)

    def committed(
        self, changes: ChangeSet, endings: Sequence[RunEnding], skipped_runs: set[str]
    ) -> None:
        for sink in self.sinks:
            try:
                sink.committed(changes, endings, skipped_runs)
            except Exception:
                self._failed(sink)

    def retrying(
        self,
        function: str,
        run_id: str,
        attempt: int,
        step: str | None,
        error: dict[str, Any] | None,
        delay_s: float,
    ) -> None:
        for sink in self.sinks:
            try:
                sink.retrying(function, run_id, attempt, step, error, delay_s)
            except Exception:
                self._failed(sink)

    def commit_batch(self, size: int, seconds: float) -> None:
        for sink in self.sinks:
            try:
                sink.commit_batch(size, seconds)
            except Exception:
                self._failed(sink)

    def sdk_response(self, status: int | None) -> None:
        for sink in self.sinks:
            try:
                sink.sdk_response(status)
            except Exception:
                self._failed(sink)

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception:
                self._failed(sink)


def build(*, metrics: bool, environ: Mapping[str, str] = os.environ) -> Fanout:
    """Logs; Prometheus metrics if ``metrics``; traces if the environment asks for them."""
    sinks: list[Telemetry] = [LogTelemetry()]
    if metrics:
        require_extra("observability", "Prometheus metrics", ("prometheus_client",))
        from stepwell.telemetry.prometheus import PrometheusTelemetry

        sinks.append(PrometheusTelemetry())
    if traces_wanted(environ):
        require_extra("observability", "OpenTelemetry traces (OTEL_* is set)", TRACE_MODULES)
        from stepwell.telemetry.otel import OTelTelemetry

        sinks.append(OTelTelemetry())
    return Fanout(sinks)


def has_metrics(telemetry: Telemetry) -> bool:
    sinks = telemetry.sinks if isinstance(telemetry, Fanout) else (telemetry,)
    return any(type(sink).__name__ == "PrometheusTelemetry" for sink in sinks)


def has_traces(telemetry: Telemetry) -> bool:
    sinks = telemetry.sinks if isinstance(telemetry, Fanout) else (telemetry,)
    return any(type(sink).__name__ == "OTelTelemetry" for sink in sinks)


def install(telemetry: Telemetry, store: object, drivers: Sequence[object] = ()) -> None:
    """Have the store report its write transactions, and HTTP drivers their answers (and say
    in ``traceparent`` whether traces are recorded)."""
    observe = getattr(store, "observe_batches", None)
    if callable(observe):
        observe(telemetry.commit_batch)
    for driver in drivers:
        if hasattr(driver, "on_response"):
            driver.on_response = telemetry.sdk_response
            driver.traces_sampled = has_traces(telemetry)  # type: ignore[attr-defined]
