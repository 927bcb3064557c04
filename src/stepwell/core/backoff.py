"""Retry backoff (protocol.md §5.8).

Inngest's table with up to 30 s of jitter by default; a fixed interval for tests and the dev
server (``--retry-interval``), where waiting minutes for a retry helps no one.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Protocol

from stepwell.core.limits import MAX_RETRIES

INNGEST_TABLE_SECONDS = (15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200)
MAX_JITTER_SECONDS = 30.0
RETRY_AFTER_MIN_SECONDS = 1.0
RETRY_AFTER_MAX_SECONDS = 24 * 3600.0


class Backoff(Protocol):
    def delay_seconds(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt + 1`` after attempt ``attempt`` failed."""
        ...


@dataclass(frozen=True)
class TableBackoff:
    """Inngest's backoff table; ``attempt`` 0 waits 15 s, then 30 s, 1 m … capped at 2 h."""

    jitter_seconds: float = MAX_JITTER_SECONDS
    rng: random.Random | None = None

    def delay_seconds(self, attempt: int) -> float:
        index = min(max(attempt, 0), len(INNGEST_TABLE_SECONDS) - 1)
        rng = self.rng or random
        return INNGEST_TABLE_SECONDS[index] + rng.uniform(0.0, self.jitter_seconds)


@dataclass(frozen=True)
class FixedBackoff:
    """The same wait before every retry."""

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError("a fixed backoff must not be negative")

    def delay_seconds(self, attempt: int) -> float:
        return self.seconds


def clamp_retry_after(seconds: float) -> float:
    """A ``Retry-After`` is honoured within [1 s, 24 h], as Inngest does."""
    if math.isnan(seconds):
        return RETRY_AFTER_MIN_SECONDS
    return min(max(seconds, RETRY_AFTER_MIN_SECONDS), RETRY_AFTER_MAX_SECONDS)


def clamp_retries(retries: int) -> int:
    if retries < 0:
        raise ValueError("retries must be zero or more")
    return min(retries, MAX_RETRIES)
