"""Speed by design: one durable write per step, no replay while a run keeps going."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import stepwell
from stepwell import Context
from stepwell.core.runs import RunStatus
from stepwell.engine import gc_tuning
from tests.integration.engine.commits import record_commits
from tests.waiting import eventually


async def test_each_step_costs_one_commit_and_nothing_is_replayed(db_url: str) -> None:
    """Without checkpointing (with it, tests/integration/engine/test_checkpointing.py)."""
    app = stepwell.App("wp")
    entries = 0
    steps = 50

    @app.function("f", trigger=stepwell.on_event("wp/go"))
    async def f(ctx: Context) -> int:
        nonlocal entries
        entries += 1  # code outside steps runs again only on a replay
        total = 0
        for i in range(steps):
            total += await ctx.step.run(f"s{i}", lambda i=i: i)
        return total

    async with app.embedded(db_url, checkpointing=False) as engine:
        commits = record_commits(engine)
        [event_id] = await engine.send("wp/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=20)

    assert run.output == sum(range(steps))
    assert entries == 1
    step_commits = [c for c in commits if c.steps]
    assert len(step_commits) == steps
    assert all(len(c.steps) == 1 for c in step_commits)
    # Besides the steps, per run: accepting the event and ending it (with its system
    # events). None of them is per step. Showing it Running rides on the first step's write,
    # which came before the loop's next turn (a step taking longer gets a write of its own).
    others: list[Any] = [c for c in commits if not c.steps]
    assert len(others) == 2
    assert [u.status.value for u in step_commits[0].run_updates] == ["Running"]
    assert not any(c.run_updates for c in step_commits[1:])


async def test_a_run_shows_running_while_its_first_step_is_still_running(db_url: str) -> None:
    """The Running mark rides on the first step's write only when that write comes first:
    a step that takes its time leaves the mark to a write of its own, made at once."""
    app = stepwell.App("wp2")
    release = asyncio.Event()

    @app.function("slow", trigger=stepwell.on_event("wp2/go"))
    async def slow(ctx: Context) -> str:
        async def wait() -> str:
            await asyncio.wait_for(release.wait(), 20)
            return "done"

        return await ctx.step.run("wait", wait)

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("wp2/go", {})

        async def running() -> bool:
            runs = await engine.list_runs(event_id=event_id)
            return bool(runs) and runs[0].status is RunStatus.RUNNING

        await eventually(running, timeout=20, what="the run shown as Running")
        [shown] = await engine.list_runs(event_id=event_id)
        assert shown.started_at is not None
        release.set()
        [run] = await engine.wait_for_runs(event_id, timeout=20)
    assert run.status is RunStatus.COMPLETED
    assert run.output == "done"


async def test_a_run_created_here_starts_without_reading_itself_back(db_url: str) -> None:
    """Its record, its events and its empty memo are handed on with its execute item (each
    read would be a round trip on PostgreSQL); a run resumed later reads them as stored."""
    app = stepwell.App("wp3")

    @app.function("two", trigger=stepwell.on_event("wp3/go"))
    async def two(ctx: Context) -> int:
        first = await ctx.step.run("a", lambda: 1)
        await ctx.step.sleep("nap", "10ms")
        return first + await ctx.step.run("b", lambda: 2)

    reads: list[str] = []
    async with app.embedded(db_url) as engine:
        for name in ("get_item", "get_run", "get_events", "load_memo"):
            real = getattr(engine.store, name)

            def counted(*args: Any, _real: Any = real, _name: str = name) -> Any:
                reads.append(_name)
                return _real(*args)

            setattr(engine.store, name, counted)
        [event_id] = await engine.send("wp3/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=20)
    assert run.output == 3
    # Nothing was read for the first execution. The sleep's item read its item and run,
    # and the execution after it read its item, run, events and memo, as stored.
    assert sorted(reads) == [
        "get_events", "get_item", "get_item", "get_run", "get_run", "load_memo"
    ]  # fmt: skip


async def test_the_collector_runs_less_often_only_while_the_engine_runs(
    sqlite_url: str,
) -> None:
    app = stepwell.App("wp4")
    before = gc.get_threshold()
    gc.set_threshold(*gc_tuning.CPYTHON_DEFAULT)
    try:
        async with app.embedded(sqlite_url):
            assert gc.get_threshold() == gc_tuning.ENGINE_THRESHOLDS
        assert gc.get_threshold() == gc_tuning.CPYTHON_DEFAULT
        async with app.embedded(sqlite_url, tune_gc=False):
            assert gc.get_threshold() == gc_tuning.CPYTHON_DEFAULT
    finally:
        gc.set_threshold(*before)


async def test_a_run_sees_its_event_as_stored_even_if_the_sender_changes_it(db_url: str) -> None:
    """A run created here is handed on in memory, but its event as decoded from what was
    stored, not the sender's objects: a change made after ``send`` returned is not seen."""
    app = stepwell.App("wp5")

    @app.function("f", trigger=stepwell.on_event("wp5/go"))
    async def f(ctx: Context) -> int:
        return int(ctx.event.data["n"])

    data = {"n": 1}
    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send(
            stepwell.Event(name="wp5/go", data=data, ts=1_700_000_000_000)
        )
        data["n"] = 2  # before the run has started: it starts on a later turn of the loop
        [run] = await engine.wait_for_runs(event_id, timeout=20)
    assert run.output == 1
