"""OpenTelemetry traces: one trace per run, a span per step attempt, exported over OTLP/HTTP.

Configured by the standard ``OTEL_*`` variables (endpoint, headers, service name, resource,
sampler, batch delays), read by the official SDK and exporter. Ids come from
``core.trace_ids``, so spans written by different executions and processes of one run land in
the same trace, and the SDK can make a step's span current before the step's code runs (spans
the user opens nest under it) without being told anything.

A run's spans are written as its work is committed: a step's span once its attempt ended, an
event's ``received`` span when it started runs (each run links to it), the run's root span
when it ended.
"""

from __future__ import annotations

import contextvars
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, Status, StatusCode, TraceFlags

from stepwell.core import trace_ids
from stepwell.core.runs import RunStatus
from stepwell.ports.records import ChangeSet, RunRecord, SpanStatus, StepSpan
from stepwell.ports.telemetry import RunEnding

_chosen: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar(
    "stepwell_chosen_ids", default=None
)
_FAILED = (SpanStatus.FAILED, SpanStatus.ERRORED)
_KNOWN_RUNS = 10_000  # run id -> function, for spans committed without the function at hand


class _ChosenIds(IdGenerator):
    """The ids we derive for our spans; random ones for everyone else's."""

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_span_id(self) -> int:
        chosen = _chosen.get()
        return chosen[1] if chosen is not None else self._random.generate_span_id()

    def generate_trace_id(self) -> int:
        chosen = _chosen.get()
        return chosen[0] if chosen is not None else self._random.generate_trace_id()


_provider: TracerProvider | None = None


def provider() -> TracerProvider:
    """The process's provider (one, shared by every engine), exporting over OTLP/HTTP. It
    becomes the global provider unless the program set one, so that the user's own spans are
    exported too."""
    global _provider
    if _provider is None:
        resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "stepwell"}))
        created = TracerProvider(resource=resource, id_generator=_ChosenIds())
        created.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            trace.set_tracer_provider(created)
        _provider = created
    return _provider


def _ns(ms: int) -> int:
    return ms * 1_000_000


class OTelTelemetry:
    """The ``Telemetry`` that writes spans."""

    def __init__(self) -> None:
        self._provider = provider()
        self._tracer = self._provider.get_tracer("stepwell")
        self._functions: OrderedDict[str, str] = OrderedDict()
        trace_ids.propagating = True

    def _remember(self, run_id: str, function: str) -> None:
        self._functions[run_id] = function
        if len(self._functions) > _KNOWN_RUNS:
            self._functions.popitem(last=False)

    def _emit(
        self,
        ids: tuple[int, int],
        name: str,
        *,
        parent: SpanContext | None,
        start_ms: int,
        end_ms: int,
        attributes: dict[str, Any],
        links: Sequence[Link] = (),
        error: str | None = None,
    ) -> None:
        context = trace.set_span_in_context(NonRecordingSpan(parent)) if parent else None
        token = _chosen.set(ids)
        try:
            span = self._tracer.start_span(
                name,
                context=context,
                attributes=attributes,
                links=links,
                start_time=_ns(start_ms),
            )
        finally:
            _chosen.reset(token)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=_ns(max(end_ms, start_ms)))

    def execution_started(
        self, function: str, run: RunRecord, attempt: int, queued_ms: int, first_event_ms: int
    ) -> None:
        self._remember(run.run_id, function)

    def committed(
        self, changes: ChangeSet, endings: Sequence[RunEnding], skipped_runs: set[str]
    ) -> None:
        if changes.runs:
            self._events_received(changes, skipped_runs)
        for span in changes.spans:
            if span.ended_at is not None:
                self._step(span)
        for ending in endings:
            self._run(ending)

    def _events_received(self, changes: ChangeSet, skipped_runs: set[str]) -> None:
        starting = {
            event_id
            for new in changes.runs
            if new.record.run_id not in skipped_runs
            for event_id in new.record.event_ids
        }
        for new in changes.runs:
            self._remember(new.record.run_id, new.record.function_id)
        for stored in changes.events:
            if stored.internal_id not in starting:
                continue
            self._emit(
                trace_ids.event_trace(stored.internal_id),
                f"event {stored.event.name}",
                parent=None,
                start_ms=stored.received_at,
                end_ms=stored.received_at,
                attributes={
                    "stepwell.event.id": stored.internal_id,
                    "stepwell.event.name": stored.event.name,
                },
            )

    def _step(self, span: StepSpan) -> None:
        run_id = span.run_id
        attributes: dict[str, Any] = {
            "stepwell.run_id": run_id,
            "stepwell.step.id": span.step_hash,
            "stepwell.step.name": span.name,
            "stepwell.step.kind": span.kind.value.lower(),
            "stepwell.step.attempt": span.attempt,
            "stepwell.step.outcome": span.status.value.lower(),
            "stepwell.step.queue_delay_ms": span.queued_ms,
        }
        function = self._functions.get(run_id)
        if function is not None:
            attributes["stepwell.function"] = function
        error = None
        if span.status in _FAILED:
            error = _describe(span.error)
        assert span.ended_at is not None
        self._emit(
            (
                trace_ids.trace_id(run_id),
                trace_ids.step_span_id(run_id, span.step_hash, span.attempt),
            ),
            f"{span.kind.value.lower()} {span.name}",
            parent=_run_context(run_id),
            start_ms=span.started_at,
            end_ms=span.ended_at,
            attributes=attributes,
            error=error,
        )

    def _run(self, ending: RunEnding) -> None:
        run = ending.run
        self._functions.pop(run.run_id, None)
        links = []
        for event_id in run.event_ids[:8]:
            event_trace, event_span = trace_ids.event_trace(event_id)
            links.append(Link(_context(event_trace, event_span), {"stepwell.event.id": event_id}))
        attributes: dict[str, Any] = {
            "stepwell.function": run.function_id,
            "stepwell.run_id": run.run_id,
            "stepwell.run.status": ending.status.value,
            "stepwell.event_ids": list(run.event_ids),
        }
        if ending.attempt is not None:
            attributes["stepwell.attempt"] = ending.attempt
        failed = ending.status is RunStatus.FAILED
        self._emit(
            (trace_ids.trace_id(run.run_id), trace_ids.run_span_id(run.run_id)),
            f"run {run.function_id}",
            parent=None,
            start_ms=run.created_at,
            end_ms=int(time.time() * 1000),
            attributes=attributes,
            links=links,
            error=_describe(ending.error) if failed else None,
        )

    def retrying(
        self,
        function: str,
        run_id: str,
        attempt: int,
        step: str | None,
        error: dict[str, Any] | None,
        delay_s: float,
    ) -> None:
        pass

    def commit_batch(self, size: int, seconds: float) -> None:
        pass

    def sdk_response(self, status: int | None) -> None:
        pass

    def close(self) -> None:
        self._provider.force_flush()


def _context(trace_id: int, span_id: int) -> SpanContext:
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(1))


def _run_context(run_id: str) -> SpanContext:
    return _context(trace_ids.trace_id(run_id), trace_ids.run_span_id(run_id))


def _describe(error: dict[str, Any] | None) -> str:
    if not error:
        return "failed"
    name = str(error.get("name") or "Error")
    message = str(error.get("message") or "")
    return f"{name}: {message}" if message else name
