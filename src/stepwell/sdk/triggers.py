"""Triggers: what starts a function."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stepwell.core.cron import check_jitter, parse_cron
from stepwell.core.errors import ConfigError
from stepwell.core.expressions import compile_expression
from stepwell.engine.registry import CronTrigger, EventTrigger
from stepwell.protocol.durations import parse_duration, to_ms
from stepwell.sdk.events import event_name, typed_class

if TYPE_CHECKING:
    from stepwell.sdk.event_data import EventData


@dataclass(frozen=True, slots=True)
class TypedEventTrigger(EventTrigger):
    """An event trigger declared with an ``EventData`` class: its data is checked and parsed."""

    data_type: type[EventData] | None = None


def on_event(name: str | type[EventData], if_: str | None = None) -> EventTrigger:
    """Start the function for each event called ``name`` (``*`` wildcards allowed), or of the
    ``EventData`` class given, for which the CEL expression ``if_`` over ``event`` holds."""
    data_type = typed_class(name)
    resolved = event_name(name) if data_type is not None else name
    if not isinstance(resolved, str) or not resolved.strip():
        raise ConfigError("on_event needs a non-empty event name")
    if if_ is not None:
        compile_expression(if_)
    if data_type is not None:
        return TypedEventTrigger(event=resolved, expression=if_, data_type=data_type)
    return EventTrigger(event=resolved, expression=if_)


def on_cron(schedule: str, *, jitter: str | None = None) -> CronTrigger:
    """Start the function on a 5-field cron schedule (``"TZ=Europe/Paris 0 9 * * 1-5"``), each
    tick once; ``jitter`` (1s to 5m) spreads the start by a random delay."""
    parse_cron(schedule)
    if jitter:
        check_jitter(to_ms(parse_duration(jitter)))
    return CronTrigger(cron=schedule, jitter=jitter)
