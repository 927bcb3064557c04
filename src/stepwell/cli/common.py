"""What the run commands share: running their async work, parsing ``--since`` and data."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from stepwell.cli.output import fail
from stepwell.cli.target import Target, TargetError

T = TypeVar("T")


def run(target: Target, work: Callable[[Target], Awaitable[T]]) -> T | int:
    """``work`` on the opened target; a ``TargetError`` prints and becomes exit code 1."""

    async def go() -> T:
        async with target:
            return await work(target)

    try:
        return asyncio.run(go())
    except TargetError as exc:
        return fail(str(exc))


def since_ms(text: str | None, option: str = "--since") -> int | None:
    """``1h``/``30m``/``7d`` ago, or an RFC 3339 instant; exits 2 on anything else."""
    if text is None:
        return None
    from stepwell.protocol.durations import (
        DurationError,
        ms_from_instant,
        parse_duration,
        to_ms,
    )

    try:
        return int(time.time() * 1000) - to_ms(parse_duration(text))
    except DurationError:
        pass
    try:
        return ms_from_instant(text)
    except (DurationError, OverflowError, ValueError):
        raise click.BadParameter(
            f"expected a duration (1h, 30m, 7d) or an RFC 3339 time, got {text!r}",
            param_hint=option,
        ) from None


def json_object(text: str, option: str = "--data") -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=option) from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object", param_hint=option)
    return value
