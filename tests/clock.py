"""A clock tests move by hand; the engine's timers follow it within one poll interval."""

from __future__ import annotations

from datetime import UTC, datetime


class ManualClock:
    def __init__(self, start: datetime) -> None:
        self._ms = int(start.replace(tzinfo=start.tzinfo or UTC).timestamp() * 1000)

    def now_ms(self) -> int:
        return self._ms

    def set(self, moment: datetime) -> None:
        target = int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)
        assert target >= self._ms, "time only moves forward"
        self._ms = target
