"""Trace and span ids derived from a run's ids, so every process agrees on them without storing
anything: the run's trace, its root span, and the span of each attempt of each step.

The engine exports spans with these ids (``stepwell.telemetry.otel``), the SDK makes the step's
span current while the step's code runs (so spans the user opens nest under it), and the HTTP
driver sends the same ids to SDK apps as a W3C ``traceparent`` header. No I/O, no OpenTelemetry.
"""

from __future__ import annotations

import hashlib

propagating = False
"""True once this process exports traces (set by ``stepwell.telemetry.otel``): only then is a
step's span made current for user code; otherwise user spans would point at a parent that no
one exports."""


def _digest(text: str, size: int) -> int:
    value = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=size).digest(), "big")
    return value or 1  # zero is the invalid id in W3C trace context


def trace_id(run_id: str) -> int:
    """The 128-bit trace id of a run: one trace per run, across executions and processes."""
    return _digest(f"trace:{run_id}", 16)


def run_span_id(run_id: str) -> int:
    """The 64-bit id of the run's root span."""
    return _digest(f"run:{run_id}", 8)


def step_span_id(run_id: str, step_hash: str, attempt: int) -> int:
    """The 64-bit id of one attempt of one step (``step_hash``: the hashed step id)."""
    return _digest(f"step:{run_id}:{step_hash}:{attempt}", 8)


def event_trace(event_id: str) -> tuple[int, int]:
    """The trace and span ids of an event's ``received`` span, which runs it starts link to."""
    return _digest(f"trace:event:{event_id}", 16), _digest(f"event:{event_id}", 8)


def traceparent(trace: int, span: int, *, sampled: bool) -> str:
    """A W3C ``traceparent`` header value (version 00)."""
    return f"00-{trace:032x}-{span:016x}-{'01' if sampled else '00'}"


def parse_traceparent(value: str) -> tuple[int, int, bool] | None:
    """``(trace id, parent span id, sampled)`` of a ``traceparent`` value; None when invalid."""
    parts = value.strip().split("-")
    if len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff":
        return None
    try:
        version = int(parts[0], 16)
        trace, span, flags = int(parts[1], 16), int(parts[2], 16), int(parts[3][:2], 16)
    except ValueError:
        return None
    if len(parts[1]) != 32 or len(parts[2]) != 16 or not trace or not span:
        return None
    if version == 0 and len(parts) != 4:
        return None
    return trace, span, bool(flags & 1)
