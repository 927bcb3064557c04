"""A send's new runs get ready to execute while its commit is being made (SQLite), and
their code runs only once they are stored: an SDK reads its run back (the official ones
fetch a big batch's events through the API), and so does the test kit.

The database's write lock is held from a second connection, so the send's commit waits for
as long as the test likes.
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


def build_app(calls: list[str], holder: list[stepwell.Engine]) -> stepwell.App:
    app = stepwell.App("early")

    @app.function("first", trigger=stepwell.on_event("early/go"))
    async def first(ctx: Context) -> str:
        stored = await holder[0].get_run(ctx.run_id) is not None

        def body() -> str:
            calls.append(ctx.run_id)
            return "ran" if stored else "ran before its run was stored"

        return await ctx.step.run("only", body)

    return app


async def test_the_function_runs_only_once_its_run_is_stored(tmp_path: Path) -> None:
    path = tmp_path / "early.db"
    calls: list[str] = []
    holder: list[stepwell.Engine] = []
    async with build_app(calls, holder).embedded(f"sqlite:///{path}") as engine:
        holder.append(engine)
        with write_lock(path):
            sending = asyncio.create_task(engine.send("early/go", {}))
            for _ in range(50):  # turns of the loop: the execution gets ready, then waits
                await asyncio.sleep(0)
            assert not sending.done()  # the event is not on disk: the send has not answered
            assert calls == []
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
    holder: list[stepwell.Engine] = []
    async with build_app(calls, holder).embedded(f"sqlite:///{path}") as engine:
        holder.append(engine)
        with write_lock(path) as side:
            side.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.name = 'early/go' "
                "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
            sending = asyncio.create_task(engine.send("early/go", {}))
            for _ in range(50):
                await asyncio.sleep(0)
        with pytest.raises(sqlite3.DatabaseError, match="refused by the test"):
            await asyncio.wait_for(sending, 10)
        # The run it readied called nothing and wrote nothing.
        assert not await engine.list_runs(function_id="early-first")
        with sqlite3.connect(path) as check:
            assert check.execute("SELECT count(*) FROM steps").fetchone() == (0,)
            assert check.execute("SELECT count(*) FROM queue").fetchone() == (0,)
            check.execute("DROP TRIGGER refuse")
        # The engine goes on as before; the readied run never called its function.
        [event_id] = await engine.send("early/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=10)
        assert run.status is RunStatus.COMPLETED
        assert run.output == "ran"
        assert calls == [run.run_id]
