"""Cron schedules (protocol.md §3.4.1): 5 fields, an optional ``TZ=Zone`` prefix, jitter."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from stepwell.core.errors import ConfigError

MAX_JITTER_MS = 5 * 60 * 1000


class CronError(ConfigError):
    """A cron expression that cannot be scheduled."""


@dataclass(frozen=True, slots=True)
class CronSchedule:
    expression: str
    fields: str
    zone: ZoneInfo

    def next_after(self, after_ms: int) -> int:
        """The first tick strictly after ``after_ms`` (milliseconds since the epoch)."""
        from croniter import CroniterError, croniter  # ~45 ms to import: only apps with crons pay

        start = datetime.fromtimestamp(after_ms / 1000, UTC).astimezone(self.zone)
        try:
            following: datetime = croniter(self.fields, start).get_next(datetime)
        except (CroniterError, ValueError, OverflowError):
            raise CronError(f"cron {self.expression!r} never fires (no such date)") from None
        return int(following.timestamp() * 1000)


def parse_cron(expression: str) -> CronSchedule:
    text = expression.strip()
    zone = ZoneInfo("UTC")
    for prefix in ("TZ=", "CRON_TZ="):
        if text.startswith(prefix):
            name, _, text = text[len(prefix) :].partition(" ")
            try:
                zone = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise CronError(f"unknown time zone {name!r} in cron {expression!r}") from None
            text = text.strip()
    if text.startswith("@"):
        raise CronError(f"cron {expression!r}: descriptors such as @daily are not supported")
    if len(text.split()) != 5:
        raise CronError(
            f"cron {expression!r}: expected 5 fields (minute hour day-of-month month day-of-week)"
        )
    text = " ".join(_collapse_single_ranges(field) for field in text.split())
    from croniter import croniter

    if not croniter.is_valid(text):
        raise CronError(f"cron {expression!r} is not a valid cron expression")
    schedule = CronSchedule(expression, text, zone)
    # A valid-looking schedule may name a date that never comes (``0 0 30 2 *``): refuse it
    # here rather than fail each time it is scheduled.
    schedule.next_after(_REFERENCE_MS)
    return schedule


_REFERENCE_MS = 946_684_800_000  # 2000-01-01: any date that exists comes within 8 years of it


_SINGLE_RANGE = re.compile(r"^(\d+)-(\d+)(/\d+)?$")


def _collapse_single_ranges(field: str) -> str:
    """``5-5`` (and ``5-5/7``) is the single value 5; croniter would read it as ``*``."""
    parts = []
    for part in field.split(","):
        match = _SINGLE_RANGE.match(part)
        if match and int(match.group(1)) == int(match.group(2)):
            part = match.group(1)
        parts.append(part)
    return ",".join(parts)


def check_jitter(limit_ms: int) -> None:
    """Jitter is 0 or between 1 s and 5 min."""
    if limit_ms and not 1000 <= limit_ms <= MAX_JITTER_MS:
        raise CronError(f"jitter must be between 1s and 5m, got {limit_ms} ms")


def jitter_ms(limit_ms: int, rng: random.Random | None = None) -> int:
    """A random delay in [0, limit_ms]."""
    check_jitter(limit_ms)
    return (rng or random).randint(0, limit_ms) if limit_ms else 0
