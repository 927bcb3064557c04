"""Triggers: what starts a function."""

from __future__ import annotations

from stepwell.core.cron import check_jitter, parse_cron
from stepwell.core.expressions import compile_expression
from stepwell.engine.registry import CronTrigger, EventTrigger
from stepwell.protocol.durations import parse_duration, to_ms


def on_event(name: str, if_: str | None = None) -> EventTrigger:
    """Start the function for each event called ``name`` (``*`` wildcards allowed) for which
    the CEL expression ``if_`` over ``event`` holds."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("on_event needs a non-empty event name")
    if if_ is not None:
        compile_expression(if_)
    return EventTrigger(event=name, expression=if_)


def on_cron(schedule: str, *, jitter: str | None = None) -> CronTrigger:
    """Start the function on a 5-field cron schedule (``"TZ=Europe/Paris 0 9 * * 1-5"``), each
    tick once; ``jitter`` (1s to 5m) spreads the start by a random delay."""
    parse_cron(schedule)
    if jitter:
        check_jitter(to_ms(parse_duration(jitter)))
    return CronTrigger(cron=schedule, jitter=jitter)
