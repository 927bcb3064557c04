"""A step's span made current for the user's code (imported only when traces are exported)."""

from __future__ import annotations

from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from stepwell.core import trace_ids


def step_context(run_id: str, step_hash: str, attempt: int) -> SpanContext:
    return SpanContext(
        trace_id=trace_ids.trace_id(run_id),
        span_id=trace_ids.step_span_id(run_id, step_hash, attempt),
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )


def attach_step(run_id: str, step_hash: str, attempt: int) -> Any:
    """Make the step attempt's span the current one; returns what ``detach`` undoes."""
    span = NonRecordingSpan(step_context(run_id, step_hash, attempt))
    return context.attach(trace.set_span_in_context(span))


def detach(token: Any) -> None:
    context.detach(token)
