"""Reading flow-control settings with our duration and expression parsers."""

from __future__ import annotations

from typing import Any

from stepwell.core.expressions import compile_expression
from stepwell.core.flow import FlowConfig, parse_flow
from stepwell.protocol.durations import to_ms, to_timedelta


def _duration_ms(value: Any) -> int:
    return to_ms(to_timedelta(value))


def read_flow(raw: dict[str, Any], *, where: str) -> FlowConfig:
    """Flow control from a function's config (registration keys or our SDK's names).

    Raises ``FlowConfigError`` (a ValueError) whose message starts with the field's path.
    """
    return parse_flow(raw, where=where, to_ms=_duration_ms, compile_check=compile_expression)
