"""Runs created beyond ``max_concurrency`` wait as data, not as tasks, and all still run."""

from __future__ import annotations

import asyncio

import stepwell
from stepwell import Context
from stepwell.core.runs import RunStatus


async def test_runs_over_the_limit_start_as_slots_free_and_never_exceed_it(
    sqlite_url: str,
) -> None:
    app = stepwell.App("held")
    running = 0
    peak = 0

    @app.function("work", trigger=stepwell.on_event("held/go"))
    async def work(ctx: Context) -> int:
        async def body() -> int:
            nonlocal running, peak
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0)  # let others in, were any allowed
            running -= 1
            return 1

        return await ctx.step.run("one", body) + await ctx.step.run("two", body)

    async with app.embedded(sqlite_url, max_concurrency=3) as engine:
        ids = await engine.send([stepwell.Event(name="held/go") for _ in range(200)])
        runs = [r for event_id in ids for r in await engine.wait_for_runs(event_id, timeout=60)]
    assert len(runs) == 200
    assert all(r.status is RunStatus.COMPLETED and r.output == 2 for r in runs)
    assert 1 <= peak <= 3


async def test_a_held_run_starts_when_a_slot_frees_with_nothing_else_going_on(
    sqlite_url: str,
) -> None:
    """The last slot is held by a run waiting on the test; the held runs start only when it
    gives the slot back (no new event, no poll, nothing else to wake the dispatcher)."""
    app = stepwell.App("held2")
    release = asyncio.Event()

    @app.function("gate", trigger=stepwell.on_event("held2/gate"))
    async def gate(ctx: Context) -> str:
        async def wait() -> str:
            await asyncio.wait_for(release.wait(), 20)
            return "opened"

        return await ctx.step.run("wait", wait)

    @app.function("after", trigger=stepwell.on_event("held2/after"))
    async def after(ctx: Context) -> str:
        return await ctx.step.run("x", lambda: "ran")

    async with app.embedded(sqlite_url, max_concurrency=1, poll_interval=30) as engine:
        [gate_event] = await engine.send("held2/gate", {})
        later = await engine.send([stepwell.Event(name="held2/after") for _ in range(5)])
        shown = [r for event_id in later for r in await engine.list_runs(event_id=event_id)]
        assert [r.status for r in shown] == [RunStatus.QUEUED] * 5
        release.set()
        [opened] = await engine.wait_for_runs(gate_event, timeout=20)
        ran = [r for event_id in later for r in await engine.wait_for_runs(event_id, timeout=20)]
    assert opened.output == "opened"
    assert [r.output for r in ran] == ["ran"] * 5
