"""Rate rules over a small state per key: GCRA for throttle, a sliding log for rate limits.

Pure functions: the caller loads the state, applies a rule and stores the result in the same
transaction as the run it admits.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Gcra:
    """Throttle (protocol.md §3.4.2): ``limit`` starts per ``period``, plus ``burst`` at once.

    GCRA spaces starts by ``period / limit``; its tolerance lets ``limit + burst`` start
    together (Inngest: limit 2, period 6 s, burst 1 → three at once, then one every 3 s).
    """

    limit: int
    period_ms: int
    burst: int = 0

    @property
    def interval_ms(self) -> float:
        return self.period_ms / self.limit

    @property
    def tolerance_ms(self) -> float:
        return (self.limit + self.burst - 1) * self.interval_ms

    def schedule(self, tat_ms: float | None, now_ms: int) -> tuple[int, float]:
        """When the next start may happen, and the state after it: ``(start_at, new_tat)``.

        Throttled starts are delayed, never dropped, and keep their order (FIFO).
        """
        tat = now_ms if tat_ms is None else max(tat_ms, now_ms)
        start = max(now_ms, tat - self.tolerance_ms)
        return int(-(-start // 1)), max(tat, start) + self.interval_ms


@dataclass(frozen=True, slots=True)
class SlidingLimit:
    """Rate limit: at most ``limit`` admissions in any window of ``period``; the rest dropped."""

    limit: int
    period_ms: int

    def admit(self, recent_ms: list[int], now_ms: int) -> tuple[bool, list[int]]:
        """Whether to admit at ``now_ms``, and the admissions to remember afterwards."""
        window = [t for t in recent_ms if t > now_ms - self.period_ms]
        if len(window) >= self.limit:
            return False, window
        return True, [*window, now_ms]
