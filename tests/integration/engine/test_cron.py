"""Cron triggers: each tick runs once, also across restarts; a missed tick catches up once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import stepwell
from stepwell import Context
from tests.clock import ManualClock
from tests.waiting import eventually


def _app(seen: list[str]) -> stepwell.App:
    app = stepwell.App("cron")

    @app.function("tick", trigger=stepwell.on_cron("* * * * *"))
    async def tick(ctx: Context) -> str:
        assert ctx.event.name == "inngest/scheduled.timer"
        seen.append(ctx.event.data["scheduledAt"])
        return str(ctx.event.data["cron"])

    return app


async def test_each_tick_runs_once_and_restarts_do_not_repeat_it(db_url: str) -> None:
    seen: list[str] = []
    clock = ManualClock(datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC))
    app = _app(seen)
    async with app.embedded(db_url, clock=clock, poll_interval=0.02) as engine:
        clock.set(datetime(2026, 1, 1, 0, 1, 0, 100_000, tzinfo=UTC))
        await eventually(lambda: seen == ["2026-01-01T00:01:00Z"], what="first tick")
        clock.set(datetime(2026, 1, 1, 0, 2, 0, 50_000, tzinfo=UTC))
        await eventually(lambda: len(seen) == 2, what="second tick")
        runs = await engine.list_runs(function_id="cron-tick")
        await eventually(lambda: _all_done(engine, "cron-tick", 2), what="both tick runs complete")
    assert seen == ["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]
    assert len(runs) == 2
    # The same instant after a restart: the tick already fired, nothing runs again.
    async with app.embedded(db_url, clock=clock, poll_interval=0.02) as engine:
        await eventually(lambda: _all_done(engine, "cron-tick", 2), what="no new runs")
        assert len(await engine.list_runs(function_id="cron-tick")) == 2
    assert len(seen) == 2


async def _all_done(engine: stepwell.Engine, function_id: str, count: int) -> bool:
    runs = await engine.list_runs(function_id=function_id)
    return len(runs) == count and all(r.status.is_terminal for r in runs)


async def test_ticks_missed_while_down_catch_up_once(db_url: str) -> None:
    seen: list[str] = []
    clock = ManualClock(datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC))
    app = _app(seen)
    async with app.embedded(db_url, clock=clock, poll_interval=0.02):
        pass  # schedules the first tick (00:01) and stops
    clock.set(datetime(2026, 1, 1, 0, 5, 30, tzinfo=UTC))  # down over five ticks
    async with app.embedded(db_url, clock=clock, poll_interval=0.02) as engine:
        await eventually(lambda: seen == ["2026-01-01T00:01:00Z"], what="one catch-up run")
        await eventually(lambda: _all_done(engine, "cron-tick", 1), what="catch-up done")
        clock.set(datetime(2026, 1, 1, 0, 6, 0, 10_000, tzinfo=UTC))
        await eventually(lambda: len(seen) == 2, what="the schedule carries on")
    assert seen == ["2026-01-01T00:01:00Z", "2026-01-01T00:06:00Z"]


def test_time_zone_prefix_and_bad_schedules() -> None:
    assert stepwell.on_cron("TZ=Europe/Paris 0 9 * * 1-5").cron.startswith("TZ=")
    with pytest.raises(ValueError, match="expected 5 fields"):
        stepwell.on_cron("* * * *")
    with pytest.raises(ValueError, match="descriptors such as @daily"):
        stepwell.on_cron("@daily")
    with pytest.raises(ValueError, match="unknown time zone"):
        stepwell.on_cron("TZ=Mars/Olympus 0 9 * * *")
    with pytest.raises(ValueError, match="not a valid cron"):
        stepwell.on_cron("61 * * * *")
    with pytest.raises(ValueError, match="between 1s and 5m"):
        stepwell.on_cron("* * * * *", jitter="10m")
