"""Typed flow-control settings for ``app.function(...)``: frozen dataclasses that stand for
the dicts it accepts (``Concurrency(limit=5, key=...)`` is ``{"limit": 5, "key": ...}``).

Each class only turns itself into that dict (``to_config``); checking stays in one place,
``core.flow`` through ``engine.flow_config``, so a typed setting and its dict are refused
alike, at decoration, with the field's path in the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

from stepwell.core.errors import StepwellError
from stepwell.protocol import durations

if TYPE_CHECKING:
    from stepwell.sdk.event_data import EventData

DurationLike: TypeAlias = str | timedelta | int | float
"""A duration as the dicts take it: ``"1h30m"``, a timedelta, or seconds."""


class DurationError(StepwellError, durations.DurationError):
    """A duration or instant that cannot be understood.

    ``protocol`` may import nothing of ours, so its ``DurationError`` cannot descend from
    ``StepwellError``; the SDK re-raises it as this subclass of both, which every
    ``except ValueError``, ``except protocol.durations.DurationError`` and
    ``except StepwellError`` still catches.
    """


def to_timedelta(value: DurationLike) -> timedelta:
    """``protocol.durations.to_timedelta``, raising the SDK's ``DurationError``."""
    try:
        return durations.to_timedelta(value)
    except durations.DurationError as exc:
        raise DurationError(str(exc)) from None


def _drop_none(**fields: Any) -> dict[str, Any]:
    # The dict forms leave unset settings out; so do we, for identical configs.
    return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Concurrency:
    """At most ``limit`` steps running at once, per ``key`` (a CEL expression) if given."""

    limit: int
    key: str | None = None
    scope: str | None = None  # "fn" (default), "env" or "account"

    def to_config(self) -> dict[str, Any]:
        return _drop_none(limit=self.limit, key=self.key, scope=self.scope)


@dataclass(frozen=True, slots=True)
class Throttle:
    """At most ``limit`` run starts per ``period`` (plus ``burst``); later ones wait."""

    limit: int
    period: DurationLike
    burst: int | None = None
    key: str | None = None

    def to_config(self) -> dict[str, Any]:
        return _drop_none(limit=self.limit, period=self.period, burst=self.burst, key=self.key)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``limit`` runs per ``period``; events beyond it start no run."""

    limit: int
    period: DurationLike
    key: str | None = None

    def to_config(self) -> dict[str, Any]:
        return _drop_none(limit=self.limit, period=self.period, key=self.key)


@dataclass(frozen=True, slots=True)
class Debounce:
    """Start one run ``period`` after the last event (capped at ``timeout`` after the first);
    ``all_events`` gives the run every event of the window."""

    period: DurationLike
    key: str | None = None
    timeout: DurationLike | None = None
    all_events: bool = False

    def to_config(self) -> dict[str, Any]:
        config = _drop_none(period=self.period, key=self.key, timeout=self.timeout)
        if self.all_events:
            config["all_events"] = True
        return config


@dataclass(frozen=True, slots=True)
class Batch:
    """Run on up to ``max_size`` events at once, or after ``timeout``; ``if_`` is the CEL
    condition an event must meet to be batched."""

    max_size: int
    timeout: DurationLike
    key: str | None = None
    if_: str | None = None

    def to_config(self) -> dict[str, Any]:
        config = _drop_none(max_size=self.max_size, timeout=self.timeout, key=self.key)
        if self.if_ is not None:
            config["if"] = self.if_
        return config


@dataclass(frozen=True, slots=True)
class Priority:
    """``run``: a CEL expression giving seconds; bigger starts earlier (±12 h)."""

    run: str

    def to_config(self) -> dict[str, Any]:
        return {"run": self.run}


@dataclass(frozen=True, slots=True)
class Singleton:
    """One run at a time (per ``key``): a new one is skipped or cancels the running one."""

    mode: str  # "skip" or "cancel"
    key: str | None = None

    def to_config(self) -> dict[str, Any]:
        return _drop_none(mode=self.mode, key=self.key)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Cancel a run not started within ``start`` or not finished within ``finish``."""

    start: DurationLike | None = None
    finish: DurationLike | None = None

    def to_config(self) -> dict[str, Any]:
        return _drop_none(start=self.start, finish=self.finish)


@dataclass(frozen=True, slots=True)
class Cancel:
    """Cancel a run when ``event`` arrives (matching ``match`` or ``if_``) within ``timeout``."""

    event: str | type[EventData]
    match: str | None = None
    if_: str | None = None
    timeout: DurationLike | None = None

    def to_config(self) -> dict[str, Any]:
        event: Any = self.event
        if isinstance(event, type):
            event = getattr(event, "event_name", event)  # a class without a name is refused later
        config = _drop_none(event=event, match=self.match, timeout=self.timeout)
        if self.if_ is not None:
            config["if"] = self.if_
        return config


FlowType: TypeAlias = (
    Concurrency | Throttle | RateLimit | Debounce | Batch | Priority | Singleton | Timeouts | Cancel
)
FLOW_TYPES = (
    Concurrency,
    Throttle,
    RateLimit,
    Debounce,
    Batch,
    Priority,
    Singleton,
    Timeouts,
    Cancel,
)


def as_config(value: Any) -> Any:
    """A setting as the decorator's dicts: typed objects (alone or in a list) become dicts;
    anything else is passed on as given, to be checked (and refused) by the flow parser."""
    if isinstance(value, FLOW_TYPES):
        return value.to_config()
    if isinstance(value, list | tuple):
        return [as_config(item) for item in value]
    if isinstance(value, Mapping):
        return dict(value)
    return value
