"""Flow-control configuration (protocol.md §3.3, §3.4.2): parsed and checked, naming the field.

Accepts both official SDKs' registration keys (``batchEvents``, ``rateLimit``) and our SDK's
(``batch_events``, ``rate_limit``). Durations arrive already parsed to milliseconds by the
caller's ``to_ms`` function, so this module stays free of our other packages.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stepwell.core.errors import ConfigError

DAY_MS = 24 * 3600 * 1000
PRIORITY_CLAMP_S = 43_200
MAX_BATCH_SIZE = 100


class FlowConfigError(ConfigError):
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
class Throttle:
    limit: int
    period_ms: int
    burst: int = 0
    key: str | None = None


@dataclass(frozen=True, slots=True)
class RateLimit:
    limit: int
    period_ms: int
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Singleton:
    mode: str  # "skip" or "cancel"
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Concurrency:
    limit: int
    key: str | None = None
    scope: str = "fn"


@dataclass(frozen=True, slots=True)
class Timeouts:
    start_ms: int | None = None
    finish_ms: int | None = None


@dataclass(frozen=True, slots=True)
class FlowConfig:
    debounce: Debounce | None = None
    batch: Batch | None = None
    throttles: tuple[Throttle, ...] = ()
    rate_limit: RateLimit | None = None
    idempotency: str | None = None
    singleton: Singleton | None = None
    priority: str | None = None
    concurrency: tuple[Concurrency, ...] = ()
    timeouts: Timeouts | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gated(self) -> bool:
        """Decided per event before a run exists (debounce, batching)."""
        return self.debounce is not None or self.batch is not None

    @property
    def admits(self) -> bool:
        """Has rules that decide whether and when a new run starts."""
        return bool(
            self.throttles
            or self.rate_limit
            or self.idempotency
            or self.singleton
            or self.priority
            or self.timeouts
        )


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
    except OverflowError:
        raise FlowConfigError(f"{where}: the duration {value!r} is too long") from None


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
    throttle_raw = raw.get("throttle")
    throttle_list = (
        throttle_raw
        if isinstance(throttle_raw, list)
        else ([] if throttle_raw is None else [throttle_raw])
    )
    throttles = tuple(
        _throttle(
            t,
            f"{where}.throttle" + (f"[{i}]" if isinstance(throttle_raw, list) else ""),
            to_ms,
            compile_check,
        )
        for i, t in enumerate(throttle_list)
    )
    rate_limit = _rate_limit(
        _get(raw, "rateLimit", "rate_limit"), f"{where}.rateLimit", to_ms, compile_check
    )
    idempotency = _expression(f"{where}.idempotency", raw.get("idempotency"), compile_check)
    singleton = _singleton(raw.get("singleton"), f"{where}.singleton", compile_check)
    priority = None
    priority_raw = raw.get("priority")
    if priority_raw is not None:
        if not isinstance(priority_raw, dict):
            raise FlowConfigError(f"{where}.priority: expected an object with 'run'")
        priority = _expression(f"{where}.priority.run", priority_raw.get("run"), compile_check)
    concurrency = _concurrency(raw.get("concurrency"), f"{where}.concurrency", compile_check)
    timeouts = _timeouts(raw.get("timeouts"), f"{where}.timeouts", to_ms)
    return FlowConfig(
        debounce=debounce,
        batch=batch,
        throttles=throttles,
        rate_limit=rate_limit,
        idempotency=idempotency,
        singleton=singleton,
        priority=priority,
        concurrency=concurrency,
        timeouts=timeouts,
    )


def _period(
    where: str, raw: dict[str, Any], to_ms: DurationParser, max_ms: int, max_label: str
) -> int:
    """A required ``period`` between 1 s and ``max_ms``."""
    if raw.get("period") is None:
        raise FlowConfigError(f"{where}.period: a period is required")
    period = _duration(f"{where}.period", raw["period"], to_ms)
    if not 1000 <= period <= max_ms:
        raise FlowConfigError(f"{where}.period: must be between 1s and {max_label}")
    return period


def _positive_int(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FlowConfigError(f"{where}: expected a positive integer")
    return value


def _throttle(
    raw: Any, where: str, to_ms: DurationParser, compile_check: Callable[[str], object]
) -> Throttle:
    if not isinstance(raw, dict):
        raise FlowConfigError(f"{where}: expected an object with limit and period")
    limit = _positive_int(f"{where}.limit", raw.get("limit"))
    period = _period(where, raw, to_ms, 7 * DAY_MS, "7d")
    burst = raw.get("burst") or 0
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 0:
        raise FlowConfigError(f"{where}.burst: expected an integer ≥ 0")
    return Throttle(
        limit, period, burst, _expression(f"{where}.key", raw.get("key"), compile_check)
    )


def _rate_limit(
    raw: Any, where: str, to_ms: DurationParser, compile_check: Callable[[str], object]
) -> RateLimit | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FlowConfigError(f"{where}: expected an object with limit and period")
    limit = _positive_int(f"{where}.limit", raw.get("limit"))
    period = _period(where, raw, to_ms, DAY_MS, "24h")
    return RateLimit(limit, period, _expression(f"{where}.key", raw.get("key"), compile_check))


def _singleton(raw: Any, where: str, compile_check: Callable[[str], object]) -> Singleton | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or raw.get("mode") not in ("skip", "cancel"):
        raise FlowConfigError(f"{where}.mode: expected 'skip' or 'cancel'")
    return Singleton(raw["mode"], _expression(f"{where}.key", raw.get("key"), compile_check))


def _concurrency(
    raw: Any, where: str, compile_check: Callable[[str], object]
) -> tuple[Concurrency, ...]:
    if raw is None:
        return ()
    if isinstance(raw, int) and not isinstance(raw, bool):
        return () if raw == 0 else (Concurrency(_positive_int(where, raw)),)
    items = raw if isinstance(raw, list) else [raw]
    if len(items) > 2:
        raise FlowConfigError(f"{where}: at most 2 limits, got {len(items)}")
    found: list[Concurrency] = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]" if isinstance(raw, list) else where
        if not isinstance(item, dict):
            raise FlowConfigError(f"{at}: expected an object with a limit")
        limit = item.get("limit")
        if limit == 0:
            continue  # 0 means unlimited, as Inngest treats it
        scope = item.get("scope") or "fn"
        if scope not in ("fn", "env", "account"):
            raise FlowConfigError(f"{at}.scope: expected 'fn', 'env' or 'account'")
        key = _expression(f"{at}.key", item.get("key"), compile_check)
        if scope != "fn" and key is None:
            raise FlowConfigError(f"{at}.key: a key is required with scope {scope!r}")
        found.append(Concurrency(_positive_int(f"{at}.limit", limit), key, scope))
    return tuple(found)


def _timeouts(raw: Any, where: str, to_ms: DurationParser) -> Timeouts | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FlowConfigError(f"{where}: expected an object with start and/or finish")
    start = _duration(f"{where}.start", raw["start"], to_ms) if raw.get("start") else None
    finish = _duration(f"{where}.finish", raw["finish"], to_ms) if raw.get("finish") else None
    return Timeouts(start, finish)


def clamp_priority(seconds: Any) -> int:
    """``priority.run`` yields seconds: bigger runs earlier, clamped to ±12 h."""
    try:
        number = float(seconds)
    except (TypeError, ValueError):
        return 0
    if math.isnan(number):
        return 0
    # Clamp before converting: int(inf) raises.
    return int(max(-PRIORITY_CLAMP_S, min(PRIORITY_CLAMP_S, number)))


def _debounce(
    raw: Any, where: str, to_ms: DurationParser, compile_check: Callable[[str], object]
) -> Debounce | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FlowConfigError(f"{where}: expected an object with a period")
    period = _period(where, raw, to_ms, 7 * DAY_MS, "7d")
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
