"""Flow-control configuration (protocol.md §3.3, §3.4.2): parsed and checked, naming the field.

Accepts both official SDKs' registration keys (``batchEvents``, ``rateLimit``) and our SDK's
(``batch_events``, ``rate_limit``). Durations arrive already parsed to milliseconds by the
caller's ``to_ms`` function, so this module stays free of our other packages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DAY_MS = 24 * 3600 * 1000
PRIORITY_CLAMP_S = 43_200
MAX_BATCH_SIZE = 100


class FlowConfigError(ValueError):
    """An invalid flow-control setting; the message starts with the field's path."""


@dataclass(frozen=True, slots=True)
class Debounce:
    period_ms: int
    key: str | None = None
    timeout_ms: int | None = None
    all_events: bool = False


@dataclass(frozen=True, slots=True)
class Batch:
    max_size: int
    timeout_ms: int
    key: str | None = None
    condition: str | None = None


@dataclass(frozen=True, slots=True)
class FlowConfig:
    debounce: Debounce | None = None
    batch: Batch | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gated(self) -> bool:
        return self.debounce is not None or self.batch is not None


DurationParser = Callable[[Any], int]


def _get(raw: dict[str, Any], *names: str) -> Any:
    for name in names:
        if raw.get(name) is not None:
            return raw[name]
    return None


def _expression(where: str, value: Any, compile_check: Callable[[str], object]) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise FlowConfigError(f"{where}: expected a CEL expression string")
    try:
        compile_check(value)
    except ValueError as exc:
        raise FlowConfigError(f"{where}: {exc}") from None
    return value


def _duration(where: str, value: Any, to_ms: DurationParser) -> int:
    try:
        return to_ms(value)
    except (ValueError, TypeError) as exc:
        raise FlowConfigError(f"{where}: {exc}") from None


def parse_flow(
    raw: dict[str, Any],
    *,
    where: str,
    to_ms: DurationParser,
    compile_check: Callable[[str], object],
) -> FlowConfig:
    debounce = _debounce(_get(raw, "debounce"), f"{where}.debounce", to_ms, compile_check)
    batch = _batch(
        _get(raw, "batchEvents", "batch_events"), f"{where}.batchEvents", to_ms, compile_check
    )
    if batch is not None:
        for other in ("cancel", "debounce", "singleton"):
            if raw.get(other):
                raise FlowConfigError(f"{where}.batchEvents: cannot be combined with {other}")
        priority = raw.get("priority")
        if isinstance(priority, dict) and priority.get("run"):
            raise FlowConfigError(f"{where}.batchEvents: cannot be combined with priority.run")
    return FlowConfig(debounce=debounce, batch=batch)


def _debounce(
    raw: Any, where: str, to_ms: DurationParser, compile_check: Callable[[str], object]
) -> Debounce | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FlowConfigError(f"{where}: expected an object with a period")
    if raw.get("period") is None:
        raise FlowConfigError(f"{where}.period: a period is required")
    period = _duration(f"{where}.period", raw["period"], to_ms)
    if not 1000 <= period <= 7 * DAY_MS:
        raise FlowConfigError(f"{where}.period: must be between 1s and 7d")
    timeout = None
    if raw.get("timeout") is not None:
        timeout = _duration(f"{where}.timeout", raw["timeout"], to_ms)
        if timeout < period:
            raise FlowConfigError(f"{where}.timeout: must not be shorter than the period")
    return Debounce(
        period_ms=period,
        key=_expression(f"{where}.key", raw.get("key"), compile_check),
        timeout_ms=timeout,
        all_events=bool(raw.get("events") or raw.get("all_events")),
    )


def _batch(
    raw: Any, where: str, to_ms: DurationParser, compile_check: Callable[[str], object]
) -> Batch | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FlowConfigError(f"{where}: expected an object with maxSize and timeout")
    size = _get(raw, "maxSize", "max_size")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BATCH_SIZE:
        raise FlowConfigError(f"{where}.maxSize: expected an integer from 1 to {MAX_BATCH_SIZE}")
    if raw.get("timeout") is None:
        raise FlowConfigError(f"{where}.timeout: a timeout is required")
    timeout = _duration(f"{where}.timeout", raw["timeout"], to_ms)
    if timeout < 1000:
        raise FlowConfigError(f"{where}.timeout: must be at least 1s")
    return Batch(
        max_size=size,
        timeout_ms=timeout,
        key=_expression(f"{where}.key", raw.get("key"), compile_check),
        condition=_expression(f"{where}.if", raw.get("if"), compile_check),
    )


def debounce_due(now_ms: int, first_ms: int, rule: Debounce) -> int:
    """When a debounced run starts: ``period`` after the latest event, capped by ``timeout``
    after the first one."""
    due = now_ms + rule.period_ms
    if rule.timeout_ms is not None:
        due = min(due, first_ms + rule.timeout_ms)
    return due


def batch_full(size: int, rule: Batch) -> bool:
    return size >= rule.max_size
