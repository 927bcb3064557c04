"""Debounce and batching, on a clock the tests move (no real waiting)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import stepwell
from stepwell import Context
from tests.clock import ManualClock
from tests.waiting import eventually

START = datetime(2026, 1, 1, tzinfo=UTC)


def _at(clock: ManualClock, seconds: float) -> None:
    clock.set(START + timedelta(seconds=seconds))


async def _outputs(engine: stepwell.Engine, function_id: str) -> list[Any]:
    runs = await engine.list_runs(function_id=function_id)
    return [r.output for r in sorted(runs, key=lambda r: r.run_id) if r.status.is_terminal]


def _debounce_app(**debounce: Any) -> stepwell.App:
    app = stepwell.App("deb")

    @app.function("f", trigger=stepwell.on_event("deb/go"), debounce=debounce)
    async def f(ctx: Context) -> list[Any]:
        return [e.data["n"] for e in ctx.events]

    return app


async def test_debounce_runs_once_with_the_last_event_after_a_quiet_period(db_url: str) -> None:
    clock = ManualClock(START)
    app = _debounce_app(period="2s")
    async with app.embedded(db_url, clock=clock, poll_interval=0.02) as engine:
        for n, second in enumerate([0, 0.5, 1.0]):
            _at(clock, second)
            await engine.send("deb/go", {"n": n})
        _at(clock, 2.9)  # 1.9 s after the last event: still quiet-period
        await eventually(lambda: _idle(engine), what="no run yet")
        assert await engine.list_runs(function_id="deb-f") == []
        _at(clock, 3.1)
        await eventually(lambda: _count(engine, "deb-f", 1), what="one debounced run")
        assert await _outputs(engine, "deb-f") == [[2]]


async def _idle(engine: stepwell.Engine) -> bool:
    return not await engine.list_runs(function_id="deb-f")


async def _count(engine: stepwell.Engine, function_id: str, count: int) -> bool:
    return len(await _outputs(engine, function_id)) == count


async def test_debounce_timeout_caps_the_delay_and_events_mode_hands_all(db_url: str) -> None:
    clock = ManualClock(START)
    app = _debounce_app(period="2s", timeout="3s", events=True)
    async with app.embedded(db_url, clock=clock, poll_interval=0.02) as engine:
        for n in range(4):  # an event every second: the period alone would never end
            _at(clock, n)
            await engine.send("deb/go", {"n": n})
        _at(clock, 3.05)  # first event + 3 s timeout
        await eventually(lambda: _count(engine, "deb-f", 1), what="timeout fires the run")
        assert await _outputs(engine, "deb-f") == [[0, 1, 2, 3]]


async def test_debounce_keys_are_independent(db_url: str) -> None:
    clock = ManualClock(START)
    app = _debounce_app(period="1s", key="event.data.user")
    async with app.embedded(db_url, clock=clock, poll_interval=0.02) as engine:
        await engine.send(
            [{"name": "deb/go", "data": {"n": i, "user": u}} for i, u in enumerate("abab")]
        )
        _at(clock, 1.5)
        await eventually(lambda: _count(engine, "deb-f", 2), what="one run per key")
        assert sorted(await _outputs(engine, "deb-f")) == [[2], [3]]


def _batch_app(**batch: Any) -> stepwell.App:
    app = stepwell.App("bat")

    @app.function("f", trigger=stepwell.on_event("bat/go"), batch_events=batch)
    async def f(ctx: Context) -> dict[str, Any]:
        return {"event": ctx.event.data["n"], "events": [e.data["n"] for e in ctx.events]}

    return app


async def test_a_full_batch_runs_at_once_with_all_its_events(db_url: str) -> None:
    clock = ManualClock(START)
    app = _batch_app(max_size=3, timeout="5s")
    async with app.embedded(db_url, clock=clock, poll_interval=0.02) as engine:
        for n in range(3):
            await engine.send("bat/go", {"n": n})
        await eventually(lambda: _count(engine, "bat-f", 1), what="full batch runs")
        assert await _outputs(engine, "bat-f") == [{"event": 0, "events": [0, 1, 2]}]


async def test_a_partial_batch_runs_at_its_timeout_and_keys_partition(db_url: str) -> None:
    clock = ManualClock(START)
    app = _batch_app(max_size=10, timeout="5s", key="event.data.k", **{"if": "event.data.n < 9"})
    async with app.embedded(db_url, clock=clock, poll_interval=0.02) as engine:
        await engine.send(
            [{"name": "bat/go", "data": {"n": n, "k": n % 2}} for n in range(4)]
            + [{"name": "bat/go", "data": {"n": 9, "k": 0}}]  # fails the if: runs alone
        )
        await eventually(lambda: _count(engine, "bat-f", 1), what="unbatched event runs")
        _at(clock, 4.9)
        assert len(await engine.list_runs(function_id="bat-f")) == 1
        _at(clock, 5.1)
        await eventually(lambda: _count(engine, "bat-f", 3), what="both batches run")
        outputs = await _outputs(engine, "bat-f")
    assert sorted(o["events"] for o in outputs) == [[0, 2], [1, 3], [9]]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"debounce": {"period": "500ms"}}, "debounce.period: must be between 1s and 7d"),
        ({"debounce": {"key": "x"}}, "debounce.period: a period is required"),
        ({"debounce": {"period": "2s", "timeout": "1s"}}, "must not be shorter than the period"),
        ({"batch_events": {"max_size": 0, "timeout": "1s"}}, "maxSize: expected an integer"),
        ({"batch_events": {"max_size": 5, "timeout": "10ms"}}, "timeout: must be at least 1s"),
        ({"batch_events": {"max_size": 5, "timeout": "2s", "key": "event.("}}, "key:"),
        (
            {"batch_events": {"max_size": 5, "timeout": "2s"}, "debounce": {"period": "2s"}},
            "batchEvents: cannot be combined with debounce",
        ),
    ],
)
def test_invalid_flow_settings_are_refused_naming_the_field(
    kwargs: dict[str, Any], message: str
) -> None:
    app = stepwell.App("bad")
    with pytest.raises(ValueError, match="function 'f'") as info:
        app.function("f", trigger=stepwell.on_event("bad/go"), **kwargs)
    assert message in str(info.value)
