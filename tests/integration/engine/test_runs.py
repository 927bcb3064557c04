"""Runs: statuses, output and error, cancel, get, list, wait, system events."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

import stepwell
from stepwell import Context, RunStatus
from stepwell.store.sqlite.store import SqliteStore
from tests.waiting import eventually


async def test_statuses_move_from_queued_to_running_to_completed(db_url: str) -> None:
    app = stepwell.App("st")
    release = asyncio.Event()

    @app.function("f", trigger=stepwell.on_event("st/go"))
    async def f(ctx: Context) -> str:
        await ctx.step.run("one", lambda: 1)
        await ctx.step.run("hold", lambda: asyncio.wait_for(release.wait(), 10))
        return "finished"

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("st/go", {})
        [run] = await engine.list_runs(event_id=event_id)
        assert run.status in (RunStatus.QUEUED, RunStatus.RUNNING)

        async def running() -> bool:
            current = await engine.get_run(run.run_id)
            return current is not None and current.status is RunStatus.RUNNING

        await eventually(running, what="run is Running")
        release.set()
        [done] = await engine.wait_for_runs(event_id, timeout=10)
    assert done.status is RunStatus.COMPLETED
    assert done.output == "finished"
    assert done.started_at is not None
    assert done.ended_at is not None
    assert done.created_at <= done.started_at <= done.ended_at


async def test_cancel_a_sleeping_run_and_emit_system_events(db_url: str) -> None:
    app = stepwell.App("cx")
    after_sleep = 0
    cancelled_seen: list[str] = []

    @app.function("f", trigger=stepwell.on_event("cx/go"))
    async def f(ctx: Context) -> None:
        nonlocal after_sleep
        await ctx.step.sleep("long", "1h")
        after_sleep += 1

    @app.function("watch", trigger=stepwell.on_event("inngest/function.cancelled"))
    async def watch(ctx: Context) -> None:
        cancelled_seen.append(ctx.event.data["run_id"])

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("cx/go", {})
        [run] = await engine.list_runs(event_id=event_id)

        async def sleeping() -> bool:
            current = await engine.get_run(run.run_id)
            return current is not None and current.status is RunStatus.RUNNING

        await eventually(sleeping, what="run sleeping")
        assert await engine.cancel(run.run_id) is True
        assert await engine.cancel(run.run_id) is False  # already ended
        [ended] = await engine.wait_for_runs(event_id, timeout=5)
        await eventually(lambda: cancelled_seen == [run.run_id], what="cancelled event")
    assert ended.status is RunStatus.CANCELLED
    assert after_sleep == 0


async def test_cancel_unknown_run_is_a_lookup_error(db_url: str) -> None:
    app = stepwell.App("cu")
    async with app.embedded(db_url) as engine:
        with pytest.raises(LookupError, match="no run with id"):
            await engine.cancel("01NOPE")


async def test_failed_run_emits_finished_and_failed_events(db_url: str) -> None:
    app = stepwell.App("fe")
    seen: dict[str, dict[str, object]] = {}

    @app.function("f", trigger=stepwell.on_event("fe/go"), retries=0)
    async def f(ctx: Context) -> None:
        raise ValueError("boom")

    @app.function("on-failed", trigger=stepwell.on_event("inngest/function.failed"))
    async def on_failed(ctx: Context) -> None:
        seen["failed"] = ctx.event.data

    @app.function("on-finished", trigger=stepwell.on_event("inngest/function.finished"))
    async def on_finished(ctx: Context) -> None:
        if ctx.event.data["function_id"] == "fe-f":
            seen["finished"] = ctx.event.data

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("fe/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=10)
        await eventually(lambda: len(seen) == 2, what="both system events handled")
    assert run.status is RunStatus.FAILED
    for data in seen.values():
        assert data["function_id"] == "fe-f"
        assert data["run_id"] == run.run_id
        assert data["error"]["message"] == "boom"  # type: ignore[index]
        assert data["event"]["name"] == "fe/go"  # type: ignore[index]
    assert seen["finished"]["_inngest"] == {"status": "Failed"}


async def test_list_runs_by_function_and_by_event(db_url: str) -> None:
    app = stepwell.App("ls")

    @app.function("a", trigger=stepwell.on_event("ls/go"))
    async def a(ctx: Context) -> str:
        return "a"

    @app.function("b", trigger=stepwell.on_event("ls/go"))
    async def b(ctx: Context) -> str:
        return "b"

    async with app.embedded(db_url) as engine:
        first, second = await engine.send([{"name": "ls/go"}, {"name": "ls/go"}])
        runs = await engine.wait_for_runs(first, timeout=10)
        await engine.wait_for_runs(second, timeout=10)
        of_a = await engine.list_runs(function_id="ls-a")
        got = await engine.get_run(of_a[0].run_id)
    assert sorted(r.output for r in runs) == ["a", "b"]
    assert len(of_a) == 2
    assert {r.function_id for r in of_a} == {"ls-a"}
    assert got is not None
    assert got.output == "a"


async def test_wait_for_runs_times_out_with_the_statuses(db_url: str) -> None:
    app = stepwell.App("wt")

    @app.function("f", trigger=stepwell.on_event("wt/go"))
    async def f(ctx: Context) -> None:
        await ctx.step.sleep("long", "1h")

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("wt/go", {})
        with pytest.raises(TimeoutError, match=r"Running|Queued"):
            await engine.wait_for_runs(event_id, timeout=0.3)


async def test_sleeping_run_resumes_after_a_restart(db_url: str) -> None:
    app = stepwell.App("rr")
    bodies: list[str] = []

    @app.function("f", trigger=stepwell.on_event("rr/go"))
    async def f(ctx: Context) -> str:
        await ctx.step.run("before", lambda: bodies.append("before"))
        await ctx.step.sleep("nap", "300ms")
        await ctx.step.run("after", lambda: bodies.append("after"))
        return "resumed"

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("rr/go", {})
        await eventually(lambda: bodies == ["before"], what="first step")
    # The engine stopped while the run slept; a new one picks it up from the file.
    async with app.embedded(db_url) as engine:
        [run] = await engine.wait_for_runs(event_id, timeout=10)
    assert run.output == "resumed"
    assert bodies == ["before", "after"]


async def test_defaults_are_wal_with_full_fsync(sqlite_url: str) -> None:
    app = stepwell.App("dur")
    async with app.embedded(sqlite_url) as engine:
        assert isinstance(engine.store, SqliteStore)
        assert await engine.store.writer_pragma("synchronous") == 2  # FULL: survives power loss
    async with app.embedded(sqlite_url, durability="normal") as engine:
        assert isinstance(engine.store, SqliteStore)
        assert await engine.store.writer_pragma("synchronous") == 1
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
