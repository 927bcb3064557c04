"""Reading flow-control settings with our duration and expression parsers."""

from __future__ import annotations

from typing import Any

from stepwell.core.expressions import ExpressionError, compile_expression, match_expression
from stepwell.core.flow import FlowConfig, FlowConfigError, parse_flow
from stepwell.engine.registry import DEFAULT_CANCEL_TIMEOUT_MS, CancelOn
from stepwell.protocol.durations import to_ms, to_timedelta


def _duration_ms(value: Any) -> int:
    return to_ms(to_timedelta(value))


def read_flow(raw: dict[str, Any], *, where: str) -> FlowConfig:
    """Flow control from a function's config (registration keys or our SDK's names).

    Raises ``FlowConfigError`` (a ValueError) whose message starts with the field's path.
    """
    return parse_flow(raw, where=where, to_ms=_duration_ms, compile_check=compile_expression)


def read_cancel_on(raw: Any, *, where: str) -> list[CancelOn]:
    """Cancellation triggers: ``[{"event", "if" | "match", "timeout"}]``, at most 5."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise FlowConfigError(f"{where}: expected an array")
    if len(raw) > 5:
        raise FlowConfigError(f"{where}: at most 5 cancellations, got {len(raw)}")
    found: list[CancelOn] = []
    for i, item in enumerate(raw):
        at = f"{where}[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("event"), str):
            raise FlowConfigError(f"{at}.event: an event name is required")
        expression = item.get("if") or None
        try:
            if item.get("match"):
                if expression:
                    raise FlowConfigError(f"{at}: takes 'if' or 'match', not both")
                expression = match_expression(str(item["match"]))
            if expression is not None:
                compile_expression(str(expression))
        except ExpressionError as exc:
            raise FlowConfigError(f"{at}.if: {exc}") from None
        timeout = item.get("timeout")
        try:
            timeout_ms = _duration_ms(timeout) if timeout else DEFAULT_CANCEL_TIMEOUT_MS
        except ValueError as exc:
            raise FlowConfigError(f"{at}.timeout: {exc}") from None
        found.append(CancelOn(item["event"], expression, timeout_ms))
    return found
