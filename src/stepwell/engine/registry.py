"""Functions known to the engine and the triggers that start them."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field

from stepwell.core.expressions import compile_expression, evaluate_bool
from stepwell.core.limits import DEFAULT_RETRIES


@dataclass(frozen=True, slots=True)
class EventTrigger:
    event: str
    expression: str | None = None

    @property
    def is_wildcard(self) -> bool:
        return "*" in self.event


@dataclass(slots=True)
class FunctionSpec:
    """What the engine knows of a function: no code, only identity and configuration."""

    app_id: str
    local_id: str
    name: str
    triggers: list[EventTrigger] = field(default_factory=list)
    retries: int = DEFAULT_RETRIES

    @property
    def slug(self) -> str:
        """The composite id Inngest uses everywhere: ``<app>-<function>``."""
        return f"{self.app_id}-{self.local_id}"

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
        for trigger in spec.triggers:
            if trigger.is_wildcard:
                self._wildcards.append((spec, trigger))
            else:
                self._by_event.setdefault(trigger.event, []).append((spec, trigger))

    def get(self, slug: str) -> FunctionSpec | None:
        return self._by_slug.get(slug)

    def __iter__(self) -> Iterator[FunctionSpec]:
        return iter(self._by_slug.values())

    def matching(self, event_name: str, event: dict[str, object]) -> list[FunctionSpec]:
        """Functions to start for an event: each at most once, however many triggers match."""
        found: dict[str, FunctionSpec] = {}
        candidates = self._by_event.get(event_name, [])
        if self._wildcards:
            candidates = candidates + [
                pair for pair in self._wildcards if fnmatch.fnmatchcase(event_name, pair[1].event)
            ]
        for spec, trigger in candidates:
            if spec.slug in found:
                continue
            if trigger.expression and not evaluate_bool(trigger.expression, {"event": event}):
                continue
            found[spec.slug] = spec
        return list(found.values())
