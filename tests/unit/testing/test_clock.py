"""The virtual clock: moves only when told, never backwards, and wakes who listens."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from stepwell.testing import VirtualClock

START = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_it_starts_where_told_and_stands_still() -> None:
    clock = VirtualClock(START)
    assert clock.now == START
    assert clock.now_ms() == int(START.timestamp() * 1000)
    assert clock.now_ms() == clock.now_ms()


def test_a_naive_start_is_utc() -> None:
    assert VirtualClock(datetime(2026, 5, 1, 12, 0)).now == START


def test_advance_takes_durations_in_every_form() -> None:
    clock = VirtualClock(START)
    assert clock.advance("2h") == START + timedelta(hours=2)
    assert clock.advance(timedelta(minutes=1)) == START + timedelta(hours=2, minutes=1)
    assert clock.advance(30) == START + timedelta(hours=2, minutes=1, seconds=30)


def test_time_never_moves_back() -> None:
    clock = VirtualClock(START)
    with pytest.raises(ValueError, match="forward"):
        clock.set(START - timedelta(seconds=1))
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    assert clock.set(START + timedelta(days=3)) == START + timedelta(days=3)


async def test_moving_wakes_listeners_on_their_loop() -> None:
    clock = VirtualClock(START)
    heard: list[int] = []
    woken = asyncio.Event()

    def wake(now_ms: int) -> None:
        heard.append(now_ms)
        woken.set()

    clock.on_move(wake)
    clock.advance("1s")
    async with asyncio.timeout(5):
        await woken.wait()
    assert heard == [clock.now_ms()]
    clock.forget(wake)
    clock.advance("1s")
    await asyncio.sleep(0)
    assert len(heard) == 1
