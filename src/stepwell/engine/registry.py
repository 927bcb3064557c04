"""Functions known to the engine and the triggers that start them."""

from __future__ import annotations

import fnmatch
import functools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from stepwell.core.expressions import compile_expression, evaluate_bool
from stepwell.core.flow import FlowConfig
from stepwell.core.limits import DEFAULT_RETRIES


@dataclass(frozen=True, slots=True)
class EventTrigger:
    event: str
    expression: str | None = None

    @property
    def is_wildcard(self) -> bool:
        return "*" in self.event


@dataclass(frozen=True, slots=True)
class CronTrigger:
    cron: str
    jitter: str | None = None


DEFAULT_CANCEL_TIMEOUT_MS = 365 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class CancelOn:
    """Cancel a run when ``event`` arrives (and ``expression`` over event/async holds)."""

    event: str
    expression: str | None = None
    timeout_ms: int = DEFAULT_CANCEL_TIMEOUT_MS


@dataclass(slots=True)
class FunctionSpec:
    """What the engine knows of a function: no code, only identity and configuration.

    ``url`` is set for functions served over HTTP (synced apps); in-process functions have none.
    """

    app_id: str
    local_id: str
    name: str
    triggers: list[EventTrigger] = field(default_factory=list)
    retries: int = DEFAULT_RETRIES
    url: str | None = None
    crons: list[CronTrigger] = field(default_factory=list)
    cancel_on: list[CancelOn] = field(default_factory=list)
    flow: FlowConfig = field(default_factory=FlowConfig)
    paused: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    full_slug: str | None = None

    @property
    def slug(self) -> str:
        """The composite id Inngest uses everywhere: ``<app>-<function>``."""
        return self.full_slug or f"{self.app_id}-{self.local_id}"

    @property
    def uuid(self) -> str:
        """A stable UUID for the function, as Inngest's APIs expose one (``fn_id``)."""
        return function_uuid(self.slug)

    @property
    def max_attempts(self) -> int:
        return self.retries + 1


class Registry:
    def __init__(self) -> None:
        self._by_slug: dict[str, FunctionSpec] = {}
        self._by_event: dict[str, list[tuple[FunctionSpec, EventTrigger]]] = {}
        self._wildcards: list[tuple[FunctionSpec, EventTrigger]] = []

    def add(self, spec: FunctionSpec) -> None:
        if spec.slug in self._by_slug:
            raise ValueError(f"function {spec.slug!r} is registered twice")
        for trigger in spec.triggers:
            if trigger.expression:
                compile_expression(trigger.expression)  # refuse bad expressions up front
        self._by_slug[spec.slug] = spec
        self._index(spec)

    def _index(self, spec: FunctionSpec) -> None:
        for trigger in spec.triggers:
            if trigger.is_wildcard:
                self._wildcards.append((spec, trigger))
            else:
                self._by_event.setdefault(trigger.event, []).append((spec, trigger))

    def check_replace(self, app_id: str, specs: list[FunctionSpec]) -> None:
        """Raise ``ValueError`` if ``specs`` cannot become the app's functions."""
        clash = sorted(
            s.slug for s in specs if (other := self._by_slug.get(s.slug)) and other.app_id != app_id
        )
        if clash:
            raise ValueError(f"function id(s) {clash} belong to another app")

    def replace_app(self, app_id: str, specs: list[FunctionSpec]) -> list[str]:
        """Make ``specs`` the app's functions; returns the slugs that are gone. Checked first,
        then swapped whole: a refusal leaves the registry as it was."""
        self.check_replace(app_id, specs)
        removed = [s.slug for s in self._by_slug.values() if s.app_id == app_id]
        kept = [s for s in self._by_slug.values() if s.app_id != app_id]
        by_slug: dict[str, FunctionSpec] = {}
        by_event: dict[str, list[tuple[FunctionSpec, EventTrigger]]] = {}
        wildcards: list[tuple[FunctionSpec, EventTrigger]] = []
        for spec in [*kept, *specs]:
            by_slug[spec.slug] = spec
            for trigger in spec.triggers:
                if trigger.is_wildcard:
                    wildcards.append((spec, trigger))
                else:
                    by_event.setdefault(trigger.event, []).append((spec, trigger))
        self._by_slug, self._by_event, self._wildcards = by_slug, by_event, wildcards
        new_slugs = {s.slug for s in specs}
        return [slug for slug in removed if slug not in new_slugs]

    def of_app(self, app_id: str) -> list[FunctionSpec]:
        return [s for s in self._by_slug.values() if s.app_id == app_id]

    def get(self, slug: str) -> FunctionSpec | None:
        return self._by_slug.get(slug)

    def __iter__(self) -> Iterator[FunctionSpec]:
        return iter(self._by_slug.values())

    def may_trigger(self, event_name: str) -> bool:
        """Whether any trigger names this event (its ``if`` aside)."""
        return bool(self._candidates(event_name))

    def _candidates(self, event_name: str) -> list[tuple[FunctionSpec, EventTrigger]]:
        """The triggers whose event is this name, exactly or by wildcard."""
        candidates = self._by_event.get(event_name, [])
        if self._wildcards:
            candidates = candidates + [
                pair for pair in self._wildcards if fnmatch.fnmatchcase(event_name, pair[1].event)
            ]
        return candidates

    def matching(self, event_name: str, event: dict[str, object]) -> list[FunctionSpec]:
        """Functions to start for an event: each at most once, however many triggers match."""
        found: dict[str, FunctionSpec] = {}
        for spec, trigger in self._candidates(event_name):
            if spec.slug in found:
                continue
            if trigger.expression and not evaluate_bool(trigger.expression, {"event": event}):
                continue
            found[spec.slug] = spec
        return list(found.values())


@functools.lru_cache(maxsize=4096)
def function_uuid(slug: str) -> str:
    """A function's stable UUID (``fn_id``): read on every call, so made once per slug."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stepwell:fn:{slug}"))
