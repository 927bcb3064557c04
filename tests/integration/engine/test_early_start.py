"""A send's new runs start while its commit is being made (SQLite), and nothing of theirs
lands before it: event to first step without waiting for the event's fsync.

The database's write lock is held from a second connection, so the send's commit waits for
as long as the test likes: the first step must run in that time, and the send must not
return until the lock is let go and its events are on disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import stepwell
from stepwell import Context
from stepwell.core.runs import RunStatus
from stepwell.ports.records import ChangeSet, CommitResult
from stepwell.ports.store import StoreConflict
from tests.waiting import eventually


@contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Hold SQLite's write lock on ``path`` (the engine's writer waits, up to its busy
    timeout of 5 s) until the block ends; the block may run statements in the lock."""
    side = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        side.execute("BEGIN IMMEDIATE")
        yield side
        side.execute("COMMIT")
    finally:
        side.close()


def watch_refusals(engine: stepwell.Engine) -> list[ChangeSet]:
    """The change sets with steps that the store refuses from now on."""
    refused: list[ChangeSet] = []
    real_commit = engine.store.commit

    async def commit(changes: ChangeSet) -> CommitResult:
        try:
            return await real_commit(changes)
        except StoreConflict:
            if changes.steps:
                refused.append(changes)
            raise

    engine.store.commit = commit  # type: ignore[method-assign]
    return refused


def build_app(calls: list[str]) -> stepwell.App:
    app = stepwell.App("early")

    @app.function("first", trigger=stepwell.on_event("early/go"))
    async def first(ctx: Context) -> str:
        def body() -> str:
            calls.append(ctx.run_id)
            return "ran"

        return await ctx.step.run("only", body)

    return app


async def test_the_first_step_runs_before_the_send_commits(tmp_path: Path) -> None:
    path = tmp_path / "early.db"
    calls: list[str] = []
    async with build_app(calls).embedded(f"sqlite:///{path}") as engine:
        with write_lock(path):
            sending = asyncio.create_task(engine.send("early/go", {}))
            await eventually(lambda: bool(calls), timeout=4, what="the first step's body")
            assert not sending.done()  # the event is not on disk: the send has not answered
            assert not await engine.list_runs(function_id="early-first")
        [event_id] = await asyncio.wait_for(sending, 10)
        [run] = await engine.wait_for_runs(event_id, timeout=10)
        assert run.status is RunStatus.COMPLETED
        assert run.output == "ran"
        assert calls == [run.run_id]  # once: its write landed after the run's own


async def test_a_send_that_fails_to_commit_leaves_nothing_of_its_started_run(
    tmp_path: Path,
) -> None:
    path = tmp_path / "refused.db"
    calls: list[str] = []
    async with build_app(calls).embedded(f"sqlite:///{path}") as engine:
        with write_lock(path) as side:
            side.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.name = 'early/go' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
            sending = asyncio.create_task(engine.send("early/go", {}))
            await eventually(lambda: bool(calls), timeout=4, what="the first step's body")
            refused = watch_refusals(engine)
        with pytest.raises(sqlite3.DatabaseError, match="refused by the test"):
            await asyncio.wait_for(sending, 10)
        # The run it started wrote nothing: its step's write was refused (no such run), and
        # it did not run again.
        await eventually(lambda: bool(refused), timeout=10, what="the step's write refused")
        assert not await engine.list_runs(function_id="early-first")
        with sqlite3.connect(path) as check:
            assert check.execute("SELECT count(*) FROM steps").fetchone() == (0,)
            assert check.execute("SELECT count(*) FROM queue").fetchone() == (0,)
            check.execute("DROP TRIGGER refuse")
        assert len(calls) == 1
        # The engine goes on as before.
        [event_id] = await engine.send("early/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=10)
        assert run.status is RunStatus.COMPLETED
        assert calls[1:] == [run.run_id]
