"""A function's flow control and cancellations as ``/fn/register`` carries them (§3.3).

The spec holds them parsed (milliseconds, dataclasses); the server wants the registration keys
back (``rateLimit``, ``batchEvents``, duration strings). Durations are written as the Python SDK
writes them (``protocol.durations.largest_unit_duration``).
"""

from __future__ import annotations

from typing import Any

from stepwell.core.flow import Concurrency, FlowConfig, Throttle
from stepwell.engine.registry import DEFAULT_CANCEL_TIMEOUT_MS, CancelOn
from stepwell.protocol.durations import largest_unit_duration as duration


def flow_options(flow: FlowConfig, cancel_on: list[CancelOn]) -> dict[str, Any]:
    """Only the settings the function has; keys in the Python SDK's (alphabetical) order."""
    options: dict[str, Any] = {}
    if flow.batch is not None:
        batch = flow.batch
        options["batchEvents"] = _some(
            maxSize=batch.max_size,
            timeout=duration(batch.timeout_ms),
            key=batch.key,
            **{"if": batch.condition},
        )
    if cancel_on:
        options["cancel"] = [_cancel(c) for c in cancel_on]
    if flow.concurrency:
        options["concurrency"] = [_concurrency(c) for c in flow.concurrency]
    if flow.debounce is not None:
        debounce = flow.debounce
        options["debounce"] = _some(
            period=duration(debounce.period_ms),
            key=debounce.key,
            timeout=duration(debounce.timeout_ms) if debounce.timeout_ms else None,
            # Ours only (every event of the window); other servers ignore unknown keys.
            events=True if debounce.all_events else None,
        )
    if flow.idempotency:
        options["idempotency"] = flow.idempotency
    if flow.priority:
        options["priority"] = {"run": flow.priority}
    if flow.rate_limit is not None:
        limit = flow.rate_limit
        options["rateLimit"] = _some(
            limit=limit.limit, period=duration(limit.period_ms), key=limit.key
        )
    if flow.singleton is not None:
        options["singleton"] = _some(mode=flow.singleton.mode, key=flow.singleton.key)
    if flow.throttles:
        throttles = [_throttle(t) for t in flow.throttles]
        # Inngest takes one throttle object; several (all must pass) are ours.
        options["throttle"] = throttles[0] if len(throttles) == 1 else throttles
    if flow.timeouts is not None:
        start, finish = flow.timeouts.start_ms, flow.timeouts.finish_ms
        options["timeouts"] = _some(
            start=duration(start) if start else None,
            finish=duration(finish) if finish else None,
        )
    return options


def _some(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def _cancel(cancel: CancelOn) -> dict[str, Any]:
    timeout = None if cancel.timeout_ms == DEFAULT_CANCEL_TIMEOUT_MS else cancel.timeout_ms
    return _some(
        event=cancel.event,
        timeout=duration(timeout) if timeout else None,
        **{"if": cancel.expression},
    )


def _concurrency(limit: Concurrency) -> dict[str, Any]:
    return _some(key=limit.key, limit=limit.limit, scope=limit.scope)


def _throttle(throttle: Throttle) -> dict[str, Any]:
    return _some(
        limit=throttle.limit,
        period=duration(throttle.period_ms),
        burst=throttle.burst or None,
        key=throttle.key,
    )
