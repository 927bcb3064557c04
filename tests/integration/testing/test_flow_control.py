"""Flow control, cron and cancel_on behave as in production, under the virtual clock."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import stepwell
from stepwell import Context
from stepwell.testing import TestEngine

START = datetime(2026, 1, 1, 0, 30, tzinfo=UTC)
flow = stepwell.App("flow")
active: list[int] = []
most_active: list[int] = [0]


async def _work() -> str:
    active.append(1)
    most_active[0] = max(most_active[0], len(active))
    for _ in range(20):  # yield to the loop: other runs' steps would overlap here
        await asyncio.sleep(0)
    active.pop()
    return "done"


@flow.function("one-at-a-time", trigger=stepwell.on_event("flow/one"), concurrency=1)
async def one_at_a_time(ctx: Context) -> str:
    return await ctx.step.run("work", _work)


@flow.function("all-at-once", trigger=stepwell.on_event("flow/all"))
async def all_at_once(ctx: Context) -> str:
    return await ctx.step.run("work", _work)


@flow.function(
    "throttled", trigger=stepwell.on_event("flow/throttled"), throttle={"limit": 1, "period": "1h"}
)
async def throttled(ctx: Context) -> int:
    return int(ctx.event.data["n"])


@flow.function("debounced", trigger=stepwell.on_event("flow/typed"), debounce={"period": "5m"})
async def debounced(ctx: Context) -> str:
    return str(ctx.event.data["text"])


@flow.function("hourly", trigger=stepwell.on_cron("0 * * * *"))
async def hourly(ctx: Context) -> str:
    return str(ctx.event.name)


@flow.function(
    "cancellable",
    trigger=stepwell.on_event("flow/order"),
    cancel_on=[{"event": "flow/cancelled", "match": "data.order", "timeout": "2h"}],
)
async def cancellable(ctx: Context) -> str:
    await ctx.step.sleep("a-day", "1d")
    return "shipped"


async def test_concurrency_runs_one_execution_at_a_time() -> None:
    for event, fn, expected in (("flow/one", one_at_a_time, 1), ("flow/all", all_at_once, 3)):
        most_active[0] = 0
        async with TestEngine(flow, start=START) as t:
            await t.send([{"name": event, "data": {"n": n}} for n in range(3)])
            await t.settle()
            runs = await t.runs(fn)
            assert [r.status for r in runs] == ["Completed"] * 3
            assert most_active[0] == expected, event


async def test_throttle_delays_starts_on_the_virtual_clock() -> None:
    async with TestEngine(flow, start=START) as t:
        await t.send([{"name": "flow/throttled", "data": {"n": n}} for n in range(3)])
        await t.settle()
        assert [r.status for r in await t.runs(throttled)] == ["Completed", "Queued", "Queued"]
        await t.advance("3h")
        runs = await t.runs(throttled)
        assert [r.status for r in runs] == ["Completed"] * 3
        starts = sorted(r.started_at or 0 for r in runs)
        assert [b - a for a, b in itertools.pairwise(starts)] == [3_600_000] * 2


async def test_debounce_starts_one_run_after_the_quiet_period() -> None:
    async with TestEngine(flow, start=START) as t:
        for text in ("h", "he", "hello"):
            await t.send("flow/typed", {"text": text})
            await t.advance("1m")
        assert await t.runs(debounced) == []  # 5 minutes have not passed since "hello"
        await t.advance("4m")
        [run] = await t.runs(debounced)
        assert run.status == "Completed"
        assert run.output == "hello"


async def test_cron_fires_every_tick_as_time_passes() -> None:
    async with TestEngine(flow, start=START) as t:
        await t.advance("3h")
        runs = await t.runs(hourly)
        assert [r.status for r in runs] == ["Completed"] * 3
        assert [r.created_at for r in runs] == [
            int(datetime(2026, 1, 1, hour, tzinfo=UTC).timestamp() * 1000) for hour in (1, 2, 3)
        ]
        assert runs[0].output == "inngest/scheduled.timer"


async def test_cancel_on_cancels_a_waiting_run() -> None:
    async with TestEngine(flow, start=START) as t:
        run = await t.trigger(cancellable, "flow/order", {"order": 1})
        await t.wait_until(run, waiting_for="a-day")
        await t.advance("1h")
        await t.send("flow/cancelled", {"order": 1})
        result = await t.finish(run)
        assert result.status == "Cancelled"
        assert t.elapsed == timedelta(hours=1)


async def test_cancel_on_expires_after_its_timeout() -> None:
    async with TestEngine(flow, start=START) as t:
        run = await t.trigger(cancellable, "flow/order", {"order": 2})
        await t.advance("3h")  # past cancel_on's 2 h: the cancellation no longer applies
        await t.send("flow/cancelled", {"order": 2})
        result = await t.finish(run)
        assert (result.status, result.output) == ("Completed", "shipped")
        assert t.elapsed == timedelta(days=1)
