"""Embedded checkpointing: steps go on without waiting for their writes, which batch.

``App.embedded(..., checkpointing=True)``: a ``step.run`` returns before its result is on
disk; the results commit in batches, in order, and whatever depends on them (sending events,
the run's end, a sleep) waits for them. The crash behaviour is in
``tests/integration/test_checkpointing_crash.py``.
"""

from __future__ import annotations

import asyncio

import stepwell
from stepwell import Context
from stepwell.core.runs import RunStatus
from stepwell.engine.step_buffer import MAX_AHEAD
from tests.integration.engine.commits import record_commits
from tests.waiting import eventually


async def test_steps_share_commits_and_the_end_follows_them(db_url: str) -> None:
    app = stepwell.App("ck1")
    steps = 300

    @app.function("many", trigger=stepwell.on_event("ck1/go"))
    async def many(ctx: Context) -> int:
        total = 0
        for i in range(steps):
            total += await ctx.step.run(f"s{i}", lambda i=i: i)
        return total

    async with app.embedded(db_url, checkpointing=True) as engine:
        commits = record_commits(engine)
        [event_id] = await engine.send("ck1/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        memo = await engine.store.load_memo(run.run_id)

    assert run.status is RunStatus.COMPLETED
    assert run.output == sum(range(steps))
    assert len(memo) == steps
    step_commits = [c for c in commits if c.steps]
    assert sum(len(c.steps) for c in step_commits) == steps
    assert len(step_commits) < steps  # fast steps shared their commits
    # In order: each batch holds the steps after the previous batch's.
    order = [row.step_hash for c in step_commits for row in c.steps]
    assert len(set(order)) == steps
    ended = next(
        i
        for i, c in enumerate(commits)
        if any(u.status is RunStatus.COMPLETED for u in c.run_updates)
    )
    assert ended > max(i for i, c in enumerate(commits) if c.steps)
    assert [u.status.value for u in step_commits[0].run_updates] == ["Running"]


async def test_events_sent_after_buffered_steps_are_stored_with_them(db_url: str) -> None:
    app = stepwell.App("ck2")

    @app.function("sender", trigger=stepwell.on_event("ck2/go"))
    async def sender(ctx: Context) -> list[str]:
        for i in range(20):
            await ctx.step.run(f"s{i}", lambda i=i: i)
        ids = await ctx.step.send_event("tell", stepwell.Event(name="ck2/told", data={"n": 1}))
        await ctx.step.sleep("nap", "10ms")
        return ids

    @app.function("told", trigger=stepwell.on_event("ck2/told"))
    async def told(ctx: Context) -> int:
        return int(ctx.event.data["n"])

    async with app.embedded(db_url, checkpointing=True) as engine:
        [event_id] = await engine.send("ck2/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        assert run.status is RunStatus.COMPLETED
        [told_id] = run.output
        [told_run] = await engine.wait_for_runs(told_id, timeout=30)
        memo = await engine.store.load_memo(run.run_id)
    assert told_run.output == 1
    assert len(memo) == 22  # 20 steps, the send and the sleep


async def test_a_run_cancelled_while_it_runs_ahead_stops_within_max_ahead_steps(
    db_url: str,
) -> None:
    app = stepwell.App("ck3")
    ran = 0
    cancelled = asyncio.Event()

    @app.function("endless", trigger=stepwell.on_event("ck3/go"))
    async def endless(ctx: Context) -> None:
        nonlocal ran
        for i in range(100_000):

            async def body(i: int = i) -> int:
                nonlocal ran
                ran += 1
                if ran > 50:  # after the cancel, the next step's write must fail
                    await asyncio.wait_for(cancelled.wait(), 20)
                return i

            await ctx.step.run(f"s{i}", body)

    async with app.embedded(db_url, checkpointing=True) as engine:
        [event_id] = await engine.send("ck3/go", {})

        async def far_enough() -> bool:
            return ran > 50

        await eventually(far_enough, timeout=20, what="50 steps run")
        [run] = await engine.list_runs(event_id=event_id)
        assert await engine.cancel(run.run_id)
        cancelled.set()
        [run] = await engine.wait_for_runs(event_id, timeout=20)
        at_end = ran
        memo = await engine.store.load_memo(run.run_id)
        await asyncio.sleep(0)
    assert run.status is RunStatus.CANCELLED
    # It stops once a write of its steps is refused: those under way, buffered or being
    # committed when the cancel landed ran, no more (one step past, without checkpointing).
    assert at_end <= 52 + MAX_AHEAD
    assert len(memo) < at_end


async def test_a_slow_step_after_fast_ones_finds_them_stored(db_url: str) -> None:
    app = stepwell.App("ck4")
    release = asyncio.Event()

    @app.function("slow", trigger=stepwell.on_event("ck4/go"))
    async def slow(ctx: Context) -> str:
        for i in range(5):
            await ctx.step.run(f"s{i}", lambda i=i: i)

        async def wait() -> str:
            await asyncio.wait_for(release.wait(), 20)
            return "done"

        return await ctx.step.run("wait", wait)

    async with app.embedded(db_url, checkpointing=True) as engine:
        [event_id] = await engine.send("ck4/go", {})

        async def five_stored() -> bool:
            runs = await engine.list_runs(event_id=event_id)
            if not runs or runs[0].status is not RunStatus.RUNNING:
                return False
            return len(await engine.store.load_memo(runs[0].run_id)) == 5

        await eventually(five_stored, timeout=20, what="the fast steps stored, shown Running")
        release.set()
        [run] = await engine.wait_for_runs(event_id, timeout=20)
    assert run.output == "done"


async def test_a_plain_def_function_checkpoints_the_same_way(db_url: str) -> None:
    app = stepwell.App("ck5")

    @app.function("plain", trigger=stepwell.on_event("ck5/go"))
    def plain(ctx: stepwell.SyncContext) -> int:
        return sum(ctx.step.run(f"s{i}", lambda i=i: i) for i in range(30))

    async with app.embedded(db_url, checkpointing=True) as engine:
        [event_id] = await engine.send("ck5/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        memo = await engine.store.load_memo(run.run_id)
    assert run.output == sum(range(30))
    assert len(memo) == 30


async def test_a_step_retried_after_buffered_ones_finds_them_stored(db_url: str) -> None:
    app = stepwell.App("ck6")
    calls: dict[str, int] = {}

    def once(name: str, fail_first: bool = False) -> str:
        calls[name] = calls.get(name, 0) + 1
        if fail_first and calls[name] == 1:
            raise RuntimeError("first try fails")
        return name

    @app.function("retry", trigger=stepwell.on_event("ck6/go"), retries=2)
    async def retry(ctx: Context) -> list[str]:
        before = [await ctx.step.run(f"a{i}", once, f"a{i}") for i in range(10)]
        flaky = await ctx.step.run("flaky", once, "flaky", True)
        after = [await ctx.step.run(f"b{i}", once, f"b{i}") for i in range(10)]
        return [*before, flaky, *after]

    async with app.embedded(db_url, checkpointing=True, retry_interval=0.01) as engine:
        [event_id] = await engine.send("ck6/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
    assert run.status is RunStatus.COMPLETED
    assert len(run.output) == 21
    assert calls.pop("flaky") == 2
    assert set(calls.values()) == {1}  # no other step ran twice


async def test_a_step_right_before_a_sleep_rides_on_the_sleeps_write(db_url: str) -> None:
    app = stepwell.App("ck7")

    @app.function("nap", trigger=stepwell.on_event("ck7/go"))
    async def nap(ctx: Context) -> int:
        value = await ctx.step.run("first", lambda: 1)
        await ctx.step.sleep("nap", "10ms")
        return value

    async with app.embedded(db_url, checkpointing=True) as engine:
        commits = record_commits(engine)
        [event_id] = await engine.send("ck7/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
    assert run.output == 1
    # Accepting the event; then one write for the step, the Running mark and the sleep's
    # timer; then the sleep's value with the next execution; then the end.
    first, step_and_sleep = commits[0], commits[1]
    assert first.events
    assert not first.steps
    assert len(step_and_sleep.steps) == 1
    assert len(step_and_sleep.items) == 1
    assert [u.status.value for u in step_and_sleep.run_updates] == ["Running"]
    assert len(commits) == 4
