"""The SQLite writer thread: group commit, and its lane for writes a caller is waiting on."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any, ClassVar

import pytest

from stepwell.store.sqlite.writer import CUT_EVERY, GroupCommitWriter


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, label TEXT)")
    return conn


def _write(label: str) -> Any:
    return lambda conn: conn.execute("INSERT INTO log (label) VALUES (?)", (label,)).rowcount


class _Held:
    """A job that holds the writer inside its transaction until ``gate`` is set, then logs
    ``label`` (if given)."""

    def __init__(self, label: str | None = None) -> None:
        self.label = label
        self.gate, self.begun = threading.Event(), threading.Event()

    def __call__(self, conn: sqlite3.Connection) -> None:
        self.begun.set()
        self.gate.wait(10)
        if self.label is not None:
            conn.execute("INSERT INTO log (label) VALUES (?)", (self.label,))

    async def holding(self) -> bool:
        """Whether the writer got to this job (waits up to 10 s)."""
        return await asyncio.to_thread(self.begun.wait, 10)


async def test_urgent_jobs_join_the_next_transaction_ahead_of_queued_ones(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    writer = GroupCommitWriter(lambda: _connect(path), max_batch=4)
    batches: list[int] = []
    writer.on_batch = lambda jobs, _seconds: batches.append(jobs)
    writer.start()
    blocker = _Held("blocker")  # holds the writer in its first transaction

    try:
        first = writer.submit(blocker)
        assert await blocker.holding()
        queued = [writer.submit(_write(f"bg{i}")) for i in range(6)]
        urgent = [writer.submit(_write(f"urgent{i}"), urgent=True) for i in range(2)]
        blocker.gate.set()
        await asyncio.wait_for(asyncio.gather(first, *queued, *urgent), 10)
    finally:
        writer.stop()
    with sqlite3.connect(path) as conn:
        order = [row[0] for row in conn.execute("SELECT label FROM log ORDER BY seq")]
    # The blocker's transaction was under way; the urgent jobs lead the next one, and each
    # kind keeps its own order. Every job was committed, in batches of at most four jobs.
    assert order == ["blocker", "urgent0", "urgent1", "bg0", "bg1", "bg2", "bg3", "bg4", "bg5"]
    assert sum(batches) == 9
    assert max(batches) <= 4


async def test_an_urgent_job_alone_is_committed_without_waiting_for_others(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.db"
    writer = GroupCommitWriter(lambda: _connect(path))
    writer.start()
    try:
        done = writer.submit(
            lambda conn: conn.execute("INSERT INTO log (label) VALUES ('x')").rowcount,
            urgent=True,
        )
        assert await asyncio.wait_for(done, 10) == 1
        again = writer.submit(lambda conn: conn.execute("SELECT count(*) FROM log").fetchone())
        assert await asyncio.wait_for(again, 10) == (1,)
    finally:
        writer.stop()


class _Labelled:
    """A job whose kind the writer may apply together (``apply_many``)."""

    calls: ClassVar[list[list[str]]] = []

    def __init__(self, label: str) -> None:
        self.label = label

    def __call__(self, conn: sqlite3.Connection) -> str:
        _Labelled.calls.append([self.label])
        if self.label == "bad":
            raise ValueError("bad job")
        conn.execute("INSERT INTO log (label) VALUES (?)", (self.label,))
        return self.label

    @staticmethod
    def apply_many(conn: sqlite3.Connection, jobs: list[_Labelled]) -> list[str]:
        labels = [job.label for job in jobs]
        _Labelled.calls.append(labels)
        if "bad" in labels:
            raise ValueError("a bad job among them")
        conn.executemany("INSERT INTO log (label) VALUES (?)", [(label,) for label in labels])
        return labels


async def _one_batch(path: Path, jobs: list[Any]) -> list[Any]:
    """``jobs`` submitted while the writer is held in a transaction: the next takes them all."""
    writer = GroupCommitWriter(lambda: _connect(path))
    writer.start()
    blocker = _Held()

    try:
        first = writer.submit(blocker)
        assert await blocker.holding()
        futures = [writer.submit(job) for job in jobs]
        blocker.gate.set()
        await asyncio.wait_for(first, 10)
        return await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), 10)
    finally:
        writer.stop()


async def test_consecutive_jobs_of_a_kind_with_apply_many_are_applied_together(
    tmp_path: Path,
) -> None:
    _Labelled.calls = []
    plain = lambda conn: conn.execute("INSERT INTO log (label) VALUES ('plain')").rowcount  # noqa: E731
    jobs: list[Any] = [_Labelled("a"), _Labelled("b"), plain, _Labelled("c")]
    results = await _one_batch(tmp_path / "w.db", jobs)
    assert results == ["a", "b", 1, "c"]
    assert _Labelled.calls == [["a", "b"], ["c"]]  # a lone one is called as itself
    with sqlite3.connect(tmp_path / "w.db") as conn:
        order = [row[0] for row in conn.execute("SELECT label FROM log ORDER BY seq")]
    assert order == ["a", "b", "plain", "c"]


async def test_a_failure_applied_together_is_retried_job_by_job(tmp_path: Path) -> None:
    _Labelled.calls = []
    results = await _one_batch(tmp_path / "w.db", [_Labelled("a"), _Labelled("bad")])
    assert results[0] == "a"
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "bad job"
    assert _Labelled.calls == [["a", "bad"], ["a"], ["bad"]]
    with sqlite3.connect(tmp_path / "w.db") as conn:
        assert [row[0] for row in conn.execute("SELECT label FROM log")] == ["a"]


async def test_committing_is_told_on_the_loop_before_the_job_resolves_and_only_if_applied(
    tmp_path: Path,
) -> None:
    """A caller may get ready while its transaction's COMMIT (the fsync) is under way: told
    once its job is applied, before its future resolves; a job that failed is not told."""
    path = tmp_path / "w.db"
    writer = GroupCommitWriter(lambda: _connect(path))
    writer.start()
    loop_thread = threading.get_ident()
    told: list[tuple[str, bool, bool]] = []  # (job, on the loop's thread, its future done)
    futures: dict[str, asyncio.Future[Any]] = {}

    def hook(label: str) -> Any:
        def committing() -> None:
            told.append((label, threading.get_ident() == loop_thread, futures[label].done()))

        return committing

    def fail(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO log (label) VALUES ('rolled back')")
        raise ValueError("refused by the test")

    blocker = _Held()  # the next three jobs then share one transaction

    try:
        first = writer.submit(blocker)
        assert await blocker.holding()
        futures["ok"] = writer.submit(_write("ok"), committing=hook("ok"))
        futures["bad"] = writer.submit(fail, committing=hook("bad"))
        futures["after"] = writer.submit(_write("after"), committing=hook("after"))
        blocker.gate.set()
        await asyncio.wait_for(first, 10)
        await asyncio.wait_for(futures["ok"], 10)
        await asyncio.wait_for(futures["after"], 10)
        with pytest.raises(ValueError, match="refused by the test"):
            await asyncio.wait_for(futures["bad"], 10)
    finally:
        writer.stop()
    assert told == [("ok", True, False), ("after", True, False)]
    with sqlite3.connect(path) as conn:
        labels = [row[0] for row in conn.execute("SELECT label FROM log ORDER BY seq")]
    assert labels == ["ok", "after"]


async def test_an_urgent_job_cuts_a_long_transaction_short_and_the_rest_follows_it(
    tmp_path: Path,
) -> None:
    """A send waits for a few dozen background jobs, not a full batch: the batch under way
    commits what it applied, the urgent job leads the next transaction, and the jobs cut
    come right after it, ahead of everything queued later; nothing is lost at a stop."""
    path = tmp_path / "w.db"
    writer = GroupCommitWriter(lambda: _connect(path), max_batch=512)
    batches: list[int] = []
    writer.on_batch = lambda jobs, _seconds: batches.append(jobs)
    writer.start()
    held = _Held("bg0")  # the writer is applying the first of 200 jobs
    lead = _Held("lead")  # a transaction alone, while the next 200 jobs are queued

    first = writer.submit(lead)
    assert await lead.holding()
    background = [writer.submit(held)] + [writer.submit(_write(f"bg{i}")) for i in range(1, 200)]
    lead.gate.set()
    await asyncio.wait_for(first, 10)
    assert await held.holding()
    urgent = writer.submit(_write("urgent"), urgent=True)
    held.gate.set()
    await asyncio.wait_for(urgent, 10)
    late = [writer.submit(_write(f"late{i}")) for i in range(3)]
    await asyncio.to_thread(writer.stop)  # queued before the stop: every job is committed
    await asyncio.wait_for(asyncio.gather(*background, *late), 10)
    with sqlite3.connect(path) as conn:
        order = [row[0] for row in conn.execute("SELECT label FROM log ORDER BY seq")]
    cut = CUT_EVERY  # jobs applied before the first look for an urgent job
    assert order == (
        ["lead"]
        + [f"bg{i}" for i in range(cut)]
        + ["urgent"]
        + [f"bg{i}" for i in range(cut, 200)]
        + [f"late{i}" for i in range(3)]
    )
    assert batches[:3] == [1, cut, 2]  # the urgent job took one cut job with it
    assert sum(batches) == 1 + 200 + 1 + 3
