"""Triggers: what starts a function."""

from __future__ import annotations

from stepwell.core.expressions import compile_expression
from stepwell.engine.registry import EventTrigger


def on_event(name: str, if_: str | None = None) -> EventTrigger:
    """Start the function for each event called ``name`` (``*`` wildcards allowed) for which
    the CEL expression ``if_`` over ``event`` holds."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("on_event needs a non-empty event name")
    if if_ is not None:
        compile_expression(if_)
    return EventTrigger(event=name, expression=if_)
