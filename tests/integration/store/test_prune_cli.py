"""``stepwell prune`` as a real process, on a SQLite file."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from stepwell.core.runs import RunStatus
from stepwell.ports.records import ChangeSet, NewRun, RunRecord, RunUpdate, StoredEvent
from stepwell.protocol.events import Event
from stepwell.store import open_store

SRC = Path(__file__).resolve().parents[3] / "src"
ENV = {**os.environ, "PYTHONPATH": str(SRC)}
DAY = 86_400_000


async def _stepwell(*args: str, cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "stepwell", *args),
        cwd=cwd,
        env=ENV,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def _ended_run(url: str, run_id: str, at: int) -> None:
    """A run, ended at ``at``, of its own event received then."""
    store = open_store(url)
    await store.open()
    try:
        event = StoredEvent(f"E-{run_id}", Event(name="t/go", data={}, ts=at), at)
        record = RunRecord(run_id, "app", "app-f", RunStatus.QUEUED, [event.internal_id], at)
        await store.commit(ChangeSet(events=[event], runs=[NewRun(record)]))
        ended = RunUpdate(run_id, RunStatus.COMPLETED, (RunStatus.QUEUED,), ended_at=at)
        await store.commit(ChangeSet(run_updates=[ended]))
    finally:
        await store.close()


async def test_prune_deletes_what_is_older_than_the_window(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stepwell.db'}"
    now = int(time.time() * 1000)
    await _ended_run(url, "Rold", now - 10 * DAY)
    await _ended_run(url, "Rnew", now - DAY)

    code, output = await _stepwell("prune", "--older-than", "7d", "--database", url, cwd=tmp_path)

    assert code == 0, output
    assert "deleted 1 runs, 1 events" in output
    store = open_store(url)
    await store.open()
    try:
        assert await store.get_run("Rold") is None
        assert await store.get_run("Rnew") is not None
        assert [e.internal_id for e in await store.list_events()] == ["E-Rnew"]
    finally:
        await store.close()


async def test_bad_values_are_refused_with_exit_code_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stepwell.db'}"
    for args, message in (
        (["--older-than", "soon"], "invalid duration 'soon'"),
        (["--older-than", "0s"], "must be more than zero"),
        (["--older-than", "7d", "--batch-size", "0"], "--batch-size must be at least 1"),
    ):
        code, output = await _stepwell("prune", *args, "--database", url, cwd=tmp_path)
        assert code == 2, output
        assert message in output
    assert not (tmp_path / "stepwell.db").exists()  # refused before opening anything


async def test_a_database_in_use_is_reported_not_pruned(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'stepwell.db'}"
    store = open_store(url)
    await store.open()  # another process owns a SQLite file while it runs
    try:
        code, output = await _stepwell(
            "prune", "--older-than", "7d", "--database", url, cwd=tmp_path
        )
    finally:
        await store.close()
    assert code == 1, output
    assert "pruning failed" in output
    assert "in use by another Stepwell process" in output
