"""Where user code is while a step's body runs: which step (steps cannot nest), and the step's
trace span made current, so spans the user opens with OpenTelemetry nest under the step.

The span is only made current when this process exports traces (``core.trace_ids.propagating``),
or, in an app served over HTTP, once a call arrives with a sampled ``traceparent`` and the app
has OpenTelemetry installed: the step's span id is derived from the run, the step and the
attempt, as the server derives it, so the app's spans nest under the server's step spans.
OpenTelemetry is not imported otherwise.
"""

from __future__ import annotations

import contextvars
import functools
import importlib.util
from typing import Any

from stepwell.core import trace_ids

_inside_step: contextvars.ContextVar[str | None] = contextvars.ContextVar("stepwell_inside_step")

Scope = tuple[contextvars.Token[str | None], Any]


def current() -> str | None:
    """The step whose body is running here, if any."""
    return _inside_step.get(None)


def enter(unique: str, run_id: str, hashed: str, attempt: int) -> Scope:
    """The body of step ``unique`` (hashed id ``hashed``) starts here; undo with ``leave``."""
    token = _inside_step.set(unique)
    if not trace_ids.propagating:
        return token, None
    from stepwell.telemetry.context import attach_step

    return token, attach_step(run_id, hashed, attempt)


def leave(scope: Scope) -> None:
    token, attached = scope
    if attached is not None:
        from stepwell.telemetry.context import detach

        detach(attached)
    _inside_step.reset(token)


def follow(traceparent: str | None) -> None:
    """A served call carried ``traceparent``: if the server records the trace and this app can
    join it (OpenTelemetry installed), make step spans current from now on."""
    if trace_ids.propagating or not traceparent:
        return
    parsed = trace_ids.parse_traceparent(traceparent)
    if parsed is not None and parsed[2] and _has_opentelemetry():
        trace_ids.propagating = True


@functools.cache
def _has_opentelemetry() -> bool:
    return importlib.util.find_spec("opentelemetry") is not None
