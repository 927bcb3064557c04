"""``VirtualClock``: the engine's time in tests, moved by hand or by the test kit.

The engine reads time only through its ``Clock`` port, so with this clock nothing happens in a
test until the time is moved: a sleep of a week is due when the clock says so, not a week
later. Moving the clock wakes the engine's poller at once (on the engine's own event loop,
from any thread), so whatever fell due runs without waiting for a poll interval.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from stepwell.protocol.durations import to_ms
from stepwell.sdk.flow_types import to_timedelta
from stepwell.sdk.types import Duration

Wake = Callable[[int], None]


def _ms(moment: datetime) -> int:
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)


class VirtualClock:
    """A clock that only moves when told to. ``now_ms`` is what the engine reads."""

    def __init__(self, start: datetime | None = None) -> None:
        self._ms = _ms(start) if start is not None else time.time_ns() // 1_000_000
        self._lock = threading.Lock()
        self._wakers: list[tuple[asyncio.AbstractEventLoop, Wake]] = []

    # -- reading ---------------------------------------------------------------------------

    def now_ms(self) -> int:
        """Milliseconds since the Unix epoch, in virtual time."""
        return self._ms

    @property
    def now(self) -> datetime:
        """The virtual time, as an aware UTC datetime."""
        return datetime.fromtimestamp(self._ms / 1000, tz=UTC)

    # -- moving ----------------------------------------------------------------------------

    def advance(self, duration: Duration) -> datetime:
        """Jump ahead by ``duration`` (``timedelta``, seconds, or ``"2h"``); return the new
        time. Everything due by then (sleeps, timeouts, retries, cron ticks, debounces) fires
        at once; ``await TestEngine.settle()`` waits until it has run. To fire timers one
        after the other, so that a chain of them inside the window all fire, use
        ``await TestEngine.advance(duration)`` instead."""
        step = to_ms(to_timedelta(duration))
        if step < 0:
            raise ValueError("time only moves forward: advance takes a duration >= 0")
        return self.set_ms(self._ms + step)

    def set(self, moment: datetime) -> datetime:
        """Jump to ``moment`` (naive datetimes are UTC); never backwards."""
        return self.set_ms(_ms(moment))

    def set_ms(self, target_ms: int) -> datetime:
        """Jump to ``target_ms`` (ms since the epoch); never backwards."""
        with self._lock:
            if target_ms < self._ms:
                raise ValueError(
                    f"time only moves forward: {target_ms} is before the clock's {self._ms}"
                )
            self._ms = target_ms
            wakers = list(self._wakers)
        for loop, wake in wakers:
            if not loop.is_closed():
                loop.call_soon_threadsafe(wake, target_ms)
        return self.now

    def on_move(self, wake: Wake, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Call ``wake(now_ms)`` on ``loop`` (the running one by default) whenever the clock
        moves: the test kit gives it the engine's poller."""
        with self._lock:
            self._wakers.append((loop or asyncio.get_running_loop(), wake))

    def forget(self, wake: Wake) -> None:
        with self._lock:
            self._wakers = [(loop, w) for loop, w in self._wakers if w is not wake]

    def __repr__(self) -> str:
        return f"<VirtualClock {self.now.isoformat()}>"


__all__ = ["VirtualClock"]
