"""Flow control in embedded mode: each rule against a real SQLite file."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import stepwell
from stepwell import Context, RunStatus
from tests.clock import ManualClock
from tests.integration.engine.conftest import all_ended, runs_of
from tests.waiting import eventually

START = datetime(2026, 1, 1, tzinfo=UTC)


async def test_rate_limit_drops_excess_runs_but_keeps_the_events(db_url: str) -> None:
    clock = ManualClock(START)
    app = stepwell.App("rl")

    @app.function(
        "f",
        trigger=stepwell.on_event("rl/go"),
        rate_limit={"limit": 2, "period": "10s", "key": "event.data.user"},
    )
    async def f(ctx: Context) -> Any:
        return ctx.event.data["n"]

    async with app.embedded(db_url, clock=clock, poll_interval=0.02) as engine:
        ids = await engine.send(
            [{"name": "rl/go", "data": {"n": n, "user": u}} for n, u in enumerate("aaab")]
        )
        await eventually(lambda: all_ended(engine, "rl-f", 3), what="a, a and b run")
        clock.set(START + timedelta(seconds=11))  # the window has passed
        await engine.send("rl/go", {"n": 4, "user": "a"})
        await eventually(lambda: all_ended(engine, "rl-f", 4), what="a runs again")
        outputs = sorted(r.output for r in await runs_of(engine, "rl-f"))
        stored = await engine.store.get_events(ids)
    assert outputs == [0, 1, 3, 4]  # the third "a" in the window was dropped
    assert len(stored) == 4  # ...but its event is kept


async def test_idempotency_expression_runs_once_per_key_per_day(db_url: str) -> None:
    app = stepwell.App("idem")

    @app.function("f", trigger=stepwell.on_event("idem/go"), idempotency="event.data.order")
    async def f(ctx: Context) -> Any:
        return ctx.event.data["n"]

    async with app.embedded(db_url) as engine:
        await engine.send([{"name": "idem/go", "data": {"n": n, "order": n % 2}} for n in range(4)])
        await eventually(lambda: all_ended(engine, "idem-f", 2), what="one run per order")
        assert sorted(r.output for r in await runs_of(engine, "idem-f")) == [0, 1]


async def test_singleton_skip_and_cancel(db_url: str) -> None:
    app = stepwell.App("single")
    release = asyncio.Event()

    async def hold() -> str:
        await asyncio.wait_for(release.wait(), 10)
        return "held"

    @app.function("skip", trigger=stepwell.on_event("s/skip"), singleton={"mode": "skip"})
    async def skip(ctx: Context) -> Any:
        await ctx.step.run("hold", hold)
        return ctx.event.data["n"]

    @app.function("cancel", trigger=stepwell.on_event("s/cancel"), singleton={"mode": "cancel"})
    async def cancel(ctx: Context) -> Any:
        await ctx.step.sleep("long", "1h" if ctx.event.data["n"] == 0 else "1ms")
        return ctx.event.data["n"]

    async with app.embedded(db_url) as engine:
        await engine.send("s/skip", {"n": 0})
        await engine.send("s/skip", {"n": 1})  # the first is still running: skipped
        await engine.send("s/cancel", {"n": 0})
        await eventually(
            lambda: _has_status(engine, "single-cancel", RunStatus.RUNNING), what="1st"
        )
        await engine.send("s/cancel", {"n": 1})  # replaces the sleeping first run
        await eventually(lambda: all_ended(engine, "single-cancel", 2), what="both ended")
        release.set()
        await eventually(lambda: all_ended(engine, "single-skip", 1), what="skip run done")
        skipped = await runs_of(engine, "single-skip")
        cancelled = await runs_of(engine, "single-cancel")
    assert [r.output for r in skipped] == [0]
    assert [(r.status, r.output) for r in cancelled] == [
        (RunStatus.CANCELLED, None),
        (RunStatus.COMPLETED, 1),
    ]


async def _has_status(engine: stepwell.Engine, function_id: str, status: RunStatus) -> bool:
    return any(r.status is status for r in await runs_of(engine, function_id))


async def test_throttle_delays_starts_and_every_limit_of_a_list_must_pass(db_url: str) -> None:
    clock = ManualClock(START)
    app = stepwell.App("thr")
    starts: list[float] = []

    @app.function(
        "f",
        trigger=stepwell.on_event("thr/go"),
        throttle=[{"limit": 2, "period": "6s", "burst": 1}, {"limit": 10, "period": "60s"}],
    )
    async def f(ctx: Context) -> None:
        starts.append(clock.now_ms() / 1000 - START.timestamp())

    async with app.embedded(db_url, clock=clock, poll_interval=0.02) as engine:
        await engine.send([{"name": "thr/go", "data": {"n": n}} for n in range(5)])
        await eventually(lambda: len(starts) == 3, what="limit + burst start at once")
        for second in (3, 6):
            clock.set(START + timedelta(seconds=second))
            await eventually(lambda s=second: len(starts) == 3 + s // 3, what=f"start at {second}s")
        await eventually(lambda: all_ended(engine, "thr-f", 5), what="all done")
    # Inngest's example: three at once, then one every period / limit = 3 s; none dropped.
    assert starts == [0, 0, 0, 3, 6]


async def test_priority_orders_waiting_runs(db_url: str) -> None:
    app = stepwell.App("prio")
    order: list[int] = []
    gate = asyncio.Event()

    @app.function(
        "f",
        trigger=stepwell.on_event("prio/go"),
        concurrency=1,
        priority={"run": "event.data.p"},
    )
    async def f(ctx: Context) -> None:
        if ctx.event.data["n"] == 0:
            await ctx.step.run("wait", lambda: asyncio.wait_for(gate.wait(), 10))
        order.append(ctx.event.data["n"])

    async with app.embedded(db_url, poll_interval=0.02) as engine:
        await engine.send("prio/go", {"n": 0, "p": 0})  # holds the only slot
        await eventually(lambda: _has_status(engine, "prio-f", RunStatus.RUNNING), what="first")
        await engine.send([{"name": "prio/go", "data": {"n": n, "p": n * 100}} for n in (1, 2, 3)])
        gate.set()
        await eventually(lambda: all_ended(engine, "prio-f", 4), what="all done")
    assert order[0] == 0
    assert sorted(order[1:]) == [1, 2, 3]


async def test_concurrency_limits_executing_runs_and_sleepers_hold_no_slot(db_url: str) -> None:
    app = stepwell.App("conc")
    running = 0
    peak = 0
    paired = asyncio.Event()

    async def work() -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        if running >= 2:
            paired.set()
        # The first bodies wait (boundedly) for a partner, so the limit is reached on a loaded
        # machine too: a lone 10 ms body could end before the next run was dispatched.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(paired.wait(), 2.0)
        await asyncio.sleep(0.01)
        running -= 1

    @app.function("f", trigger=stepwell.on_event("conc/go"), concurrency={"limit": 2})
    async def f(ctx: Context) -> None:
        await ctx.step.run("a", work)
        await ctx.step.sleep("nap", "50ms")  # asleep: its slot goes to others
        await ctx.step.run("b", work)

    async with app.embedded(db_url, poll_interval=0.02) as engine:
        await engine.send([{"name": "conc/go"} for _ in range(8)])
        await eventually(lambda: all_ended(engine, "conc-f", 8), timeout=20, what="all done")
        gate_peak = engine.concurrency.peak
    assert peak == 2
    assert gate_peak == {"fn:conc-f:": 2}


async def test_a_busy_key_does_not_delay_another_key(db_url: str) -> None:
    """Fairness: 1,000 runs of one tenant, concurrency 2 per tenant; another tenant's single
    run finishes within a few step durations, not after the queue."""
    app = stepwell.App("fair")
    step_s = 0.005

    @app.function(
        "f",
        trigger=stepwell.on_event("fair/go"),
        concurrency={"limit": 2, "key": "event.data.tenant"},
    )
    async def f(ctx: Context) -> str:
        await ctx.step.run("work", lambda: asyncio.sleep(step_s))
        return str(ctx.event.data["tenant"])

    async with app.embedded(db_url, poll_interval=0.05) as engine:
        await engine.send([{"name": "fair/go", "data": {"tenant": "big"}} for _ in range(1000)])
        sent = time.monotonic()
        [small] = await engine.send("fair/go", {"tenant": "small"})
        [run] = await engine.wait_for_runs(small, timeout=30)
        waited = time.monotonic() - sent
        big_done = sum(
            r.status is RunStatus.COMPLETED
            for r in await engine.list_runs(function_id="fair-f", limit=2000)
        )
        # The small run may end before two big ones have overlapped; the big tenant's own
        # limit is seen once it has (bounded), and must never pass 2.
        await eventually(
            lambda: engine.concurrency.peak.get("fn:fair-f:big", 0) >= 2,
            what="two big runs at once",
        )
        peak = dict(engine.concurrency.peak)
    assert run.output == "small"
    # 1,000 big runs at 2 at a time take ≥ 2.5 s of steps; the small one is not behind them.
    # Counted in runs, not seconds, so a loaded machine (slower at both) does not change it.
    assert big_done < 500, f"the small tenant waited {waited:.2f}s, behind {big_done} runs"
    assert peak["fn:fair-f:big"] == 2


async def test_start_and_finish_timeouts_cancel_runs(db_url: str) -> None:
    clock = ManualClock(START)
    app = stepwell.App("tmo")

    @app.function(
        "finish",
        trigger=stepwell.on_event("tmo/finish"),
        timeouts={"finish": "10s"},
    )
    async def finish(ctx: Context) -> None:
        await ctx.step.sleep("long", "1h")

    @app.function(
        "start",
        trigger=stepwell.on_event("tmo/start"),
        timeouts={"start": "5s"},
        throttle={"limit": 1, "period": "60s"},
    )
    async def start(ctx: Context) -> str:
        return "started"

    async with app.embedded(db_url, clock=clock, poll_interval=0.02) as engine:
        await engine.send("tmo/finish", {})
        await engine.send([{"name": "tmo/start"}, {"name": "tmo/start"}])  # 2nd is throttled
        await eventually(lambda: _has_status(engine, "tmo-finish", RunStatus.RUNNING), what="run")
        await eventually(lambda: _count_done(engine), what="the first start completes")
        clock.set(START + timedelta(seconds=11))
        await eventually(lambda: all_ended(engine, "tmo-finish", 1), what="finish timeout")
        await eventually(lambda: all_ended(engine, "tmo-start", 2), what="start timeout")
        finished = await runs_of(engine, "tmo-finish")
        started = await runs_of(engine, "tmo-start")
    assert [r.status for r in finished] == [RunStatus.CANCELLED]
    assert sorted(r.status.value for r in started) == ["Cancelled", "Completed"]


async def _count_done(engine: stepwell.Engine) -> bool:
    return any(r.status is RunStatus.COMPLETED for r in await runs_of(engine, "tmo-start"))


async def test_cancel_on_with_match_cancels_only_the_matching_run(db_url: str) -> None:
    app = stepwell.App("con")

    @app.function(
        "f",
        trigger=stepwell.on_event("con/go"),
        cancel_on=[{"event": "con/stop", "match": "data.order"}],
    )
    async def f(ctx: Context) -> str:
        await ctx.step.sleep("long", "300ms")
        return "done"

    async with app.embedded(db_url, poll_interval=0.02) as engine:
        await engine.send([{"name": "con/go", "data": {"order": o}} for o in (1, 2)])
        await eventually(lambda: _running(engine, 2), what="both sleeping")
        await engine.send("con/stop", {"order": 2})
        await eventually(lambda: all_ended(engine, "con-f", 2), what="both ended")
        runs = await runs_of(engine, "con-f")
    assert sorted(r.status.value for r in runs) == ["Cancelled", "Completed"]


async def _running(engine: stepwell.Engine, count: int) -> bool:
    runs = await runs_of(engine, "con-f")
    return sum(r.status is RunStatus.RUNNING for r in runs) == count
