"""Durations and instants as the SDKs write them (protocol.md §5.3 Sleep, Appendix B).

Durations are Go-style strings (``"1h30m"``, ``"500ms"``) extended with days and weeks, as
Inngest accepts them; instants are ISO-8601 timestamps.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_DURATION_S = 100 * 366 * 86400.0
"""Longer durations are refused: no wait needs them, and timedelta overflows not far beyond."""
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h|d|w)")


class DurationError(ValueError):
    """A duration or instant string that cannot be understood."""


@functools.lru_cache(maxsize=1024)
def parse_duration(text: str) -> timedelta:
    """Parse ``"2s"``, ``"1h30m"``, ``"1.5d"``… into a timedelta (the few a program writes
    are parsed once: every sleep and timeout step names one)."""
    raw = text.strip()
    if not raw:
        raise DurationError("empty duration")
    total = 0.0
    pos = 0
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(raw):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise DurationError(
            f"invalid duration {shown!r}: use a number with a unit such as '30s', '5m', '1h30m' "
            "(units: ns, us, ms, s, m, h, d, w)"
        )
    if not total <= MAX_DURATION_S:
        raise DurationError(f"duration {text[:40]!r} is too long (at most 100 years)")
    return timedelta(seconds=total)


def to_timedelta(value: timedelta | str | float | int) -> timedelta:
    """Accept a timedelta, a duration string, or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DurationError(f"expected a timedelta, a duration string or seconds, got {value!r}")
    if not -MAX_DURATION_S <= value <= MAX_DURATION_S:
        raise DurationError(f"duration of {value!r} seconds is too long (at most 100 years)")
    return timedelta(seconds=value)


def to_ms(value: timedelta) -> int:
    """Whole milliseconds, in integer arithmetic (float seconds * 1000 can fall 1 ms short)."""
    return value // timedelta(milliseconds=1)


def format_duration(value: timedelta) -> str:
    """Shortest Go-style form Inngest understands, e.g. ``"90s"`` or ``"1500ms"``.

    A negative duration is written as zero: a wait in the past is no wait.
    """
    ms = max(0, round(value / timedelta(milliseconds=1)))
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


_LARGEST_UNITS_MS = (
    ("w", 604_800_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
)


def largest_unit_duration(ms: int) -> str:
    """A duration in one unit, the largest that divides it evenly (``"90s"``, ``"2h"``,
    ``"1d"``): how the Python SDK writes a registration's durations (§3.3)."""
    for suffix, unit in _LARGEST_UNITS_MS:
        if ms >= unit and ms % unit == 0:
            return f"{ms // unit}{suffix}"
    return f"{ms}ms"  # under a second, or not whole seconds: Go's parser takes ms


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 instant; a naive one is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise DurationError(f"invalid timestamp {text!r}: expected ISO-8601") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_instant(value: datetime) -> str:
    """UTC ISO-8601 with milliseconds and ``Z``, the form the Python SDK sends."""
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def sleep_target_ms(name: str, now_ms: int) -> int:
    """When a ``Sleep`` op wakes: an ISO date (``name`` of ≥10 chars) or a duration from now.

    An empty duration is no wait: the TypeScript SDK sends one for ``step.sleep(id, 0)``.
    """
    if not name.strip():
        return now_ms
    if len(name) >= 10:
        try:
            return max(now_ms, to_ms(parse_instant(name) - _EPOCH))
        except DurationError:
            pass
    return now_ms + to_ms(parse_duration(name))


def instant_from_ms(ms: int) -> str:
    """Milliseconds since the epoch as ``format_instant`` writes them (``…T12:00:00.000Z``)."""
    return format_instant(_from_ms(ms))


def whole_second_instant_from_ms(ms: int) -> str:
    """Milliseconds since the epoch as RFC 3339 to the second (``…T12:00:00Z``), truncated.

    The form a cron tick is named in (its event id and ``scheduledAt``): kept without
    milliseconds because ids already stored and functions reading the tick expect it.
    """
    return _from_ms(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def ms_from_instant(text: str) -> int:
    """An ISO-8601 instant (naive: UTC) as milliseconds since the epoch; ``DurationError``
    if it is not one."""
    # In integers: float seconds * 1000 falls 1 ms short for some instants.
    return to_ms(parse_instant(text) - _EPOCH)


def _from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)  # exact, unlike fromtimestamp(ms / 1000)
