"""One writer thread that group-commits: every job waiting when a transaction starts joins it.

SQLite allows one writer at a time and each commit costs an fsync, so batching the writes of
many concurrent runs into one transaction is where throughput comes from. Each job runs in its
own savepoint: one job's failure rolls back only that job (the savepoints are taken only
when a job has failed in a first try of the batch without them).
"""

from __future__ import annotations

import asyncio
import collections
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

Job = Callable[[sqlite3.Connection], Any]
_Entry = tuple[Job, asyncio.Future[Any]]
_Outcome = tuple[asyncio.Future[Any], Any, BaseException | None]
_URGENT = object()
"""Put on the queue to wake the writer for an urgent job (which waits in its own lane)."""
_NOTHING = object()
"""No entry taken from the queue (carried jobs are waiting: the writer does not block)."""
_MARKS = (_URGENT, _NOTHING, None)
"""What the writer may take from the queue that is not a job (None: stop)."""


class GroupCommitWriter:
    def __init__(self, connect: Callable[[], sqlite3.Connection], *, max_batch: int = 512) -> None:
        self._connect = connect
        self._max_batch = max_batch
        self._jobs: queue.SimpleQueue[_Entry | object | None] = queue.SimpleQueue()
        self._urgent: collections.deque[_Entry] = collections.deque()
        self._thread = threading.Thread(
            target=self._run, name="stepwell-sqlite-writer", daemon=True
        )
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # A job's future -> what to call on the loop once its transaction is committing.
        self._committing: dict[asyncio.Future[Any], Callable[[], None]] = {}
        # Jobs cut from the last transaction for an urgent one (this thread's only): they
        # lead the next but one, ahead of every job still queued.
        self._carried: list[_Entry] = []
        self.on_batch: Callable[[int, float], None] | None = None
        """Told each transaction's job count and seconds (on this thread), if set."""

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error

    def submit(
        self,
        job: Job,
        *,
        urgent: bool = False,
        committing: Callable[[], None] | None = None,
    ) -> asyncio.Future[Any]:
        """Queue ``job`` for the next transaction; an ``urgent`` one leads the next
        transaction, which then takes no more than one other job (jobs of each kind keep
        their order). ``committing`` is called on the loop once the job is applied and its
        transaction's COMMIT (the fsync) is under way: the thread then holds no GIL, so
        what the caller does meanwhile costs the commit nothing. It runs before the job's
        future is resolved, and not at all if the transaction fails before its COMMIT."""
        assert self._loop is not None, "writer not started"
        future: asyncio.Future[Any] = self._loop.create_future()
        if committing is not None:
            self._committing[future] = committing
        if urgent:
            self._urgent.append((job, future))
            self._jobs.put(_URGENT)
        else:
            self._jobs.put((job, future))
        return future

    def stop(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    def _run(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # surfaced to start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while True:
                if self._carried:
                    try:
                        first: _Entry | object | None = self._jobs.get_nowait()
                    except queue.Empty:
                        first = _NOTHING
                else:
                    first = self._jobs.get()
                batch: list[_Entry] = []
                self._take_urgent(batch)
                # A caller waits on urgent jobs: not behind a full batch of background ones.
                urgent = bool(batch)
                if self._carried:  # queued before anything still in the queue
                    take = 1 if urgent else self._max_batch
                    batch += self._carried[:take]
                    del self._carried[:take]
                    if self._carried and not any(first is mark for mark in _MARKS):
                        self._carried.append(first)  # type: ignore[arg-type]
                        first = _NOTHING
                stop_after = False
                entry = first
                while entry is not _NOTHING:
                    if entry is None:
                        stop_after = True
                        break
                    if entry is _URGENT:  # its job is in the urgent lane (or taken already)
                        self._take_urgent(batch)
                    else:
                        batch.append(entry)  # type: ignore[arg-type]
                    if urgent or len(batch) >= self._max_batch or self._carried:
                        break
                    try:
                        entry = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                if batch:
                    self._commit_batch(conn, batch, may_cut=not urgent)
                if stop_after:
                    while self._carried:  # queued before the stop: committed, as all are
                        batch = self._carried[: self._max_batch]
                        del self._carried[: self._max_batch]
                        self._commit_batch(conn, batch, may_cut=False)
                    return
        finally:
            conn.close()

    def _tell_committing(self, outcomes: list[_Outcome]) -> None:
        """Call, on the loop, the ``committing`` of the jobs applied (and drop the others')."""
        take = self._committing.pop
        hooks = [
            hook
            for future, _, error in outcomes
            if (hook := take(future, None)) is not None and error is None
        ]
        if hooks:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(_call_each, hooks)

    def _urgent_waits(self) -> bool:
        return bool(self._urgent)

    def _take_urgent(self, batch: list[_Entry]) -> None:
        while self._urgent:
            batch.append(self._urgent.popleft())

    def _commit_batch(
        self, conn: sqlite3.Connection, batch: list[_Entry], *, may_cut: bool
    ) -> None:
        """Commit ``batch``; with ``may_cut``, an urgent job that comes while it is applied
        cuts it short: what is applied commits, and the rest is carried to the transaction
        after the urgent one's (a send then waits for a few dozen jobs, not a full batch)."""
        began = time.perf_counter()
        assert self._loop is not None
        rest: list[_Entry] = []
        try:
            together = _apply_together(conn, batch, self._urgent_waits if may_cut else None)
            if together is None:
                outcomes = _apply_each(conn, batch)
            else:
                outcomes, rest = together
            if self._committing:
                self._tell_committing(outcomes)
            conn.execute("COMMIT")
            if self.on_batch is not None:
                self.on_batch(len(outcomes), time.perf_counter() - began)
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for _, future in batch:
                self._committing.pop(future, None)
            outcomes, rest = [(future, None, exc) for _, future in batch], []
        if rest:
            self._carried[:0] = rest
        # One wake-up of the event loop for the whole batch.
        self._loop.call_soon_threadsafe(_resolve_all, outcomes, 0)


CUT_EVERY = 64
"""Jobs applied between two looks for an urgent job that would cut the transaction short."""


def _apply_together(
    conn: sqlite3.Connection, batch: list[_Entry], cut: Callable[[], bool] | None
) -> tuple[list[_Outcome], list[_Entry]] | None:
    """Every job in one go, without a savepoint each (two statements fewer per job): the
    common case, where none fails. If one does, nothing of this try is kept: None. With
    ``cut``, it stops after any ``CUT_EVERY`` jobs once ``cut()`` says so: the outcomes of
    the jobs applied, and the jobs not applied."""
    conn.execute("BEGIN IMMEDIATE")
    jobs = [job for job, _ in batch]
    try:
        if cut is None or len(jobs) <= CUT_EVERY:
            results = _run_jobs(conn, jobs)
        else:
            results = []
            for start in range(0, len(jobs), CUT_EVERY):
                if results and cut():
                    break
                results += _run_jobs(conn, jobs[start : start + CUT_EVERY])
    except Exception:
        conn.execute("ROLLBACK")
        return None
    done = len(results)
    outcomes: list[_Outcome] = [
        (future, result, None) for (_, future), result in zip(batch[:done], results, strict=True)
    ]
    return outcomes, batch[done:]


def _run_jobs(conn: sqlite3.Connection, jobs: list[Job]) -> list[Any]:
    """Each job's result, in order. Consecutive jobs of one type that has ``apply_many`` (a
    static method taking the connection and the jobs) go to it together: it may apply them
    as one (``store.sqlite.merge``)."""
    results: list[Any] = []
    at, end = 0, len(jobs)
    while at < end:
        job = jobs[at]
        many = getattr(job, "apply_many", None)
        if many is None:
            results.append(job(conn))
            at += 1
            continue
        kind, upto = type(job), at + 1
        while upto < end and type(jobs[upto]) is kind:
            upto += 1
        results += many(conn, jobs[at:upto]) if upto - at > 1 else [job(conn)]
        at = upto
    return results


def _apply_each(conn: sqlite3.Connection, batch: list[_Entry]) -> list[_Outcome]:
    """Each job in its own savepoint: a job's failure rolls back only that job."""
    outcomes: list[_Outcome] = []
    conn.execute("BEGIN IMMEDIATE")
    for job, future in batch:
        conn.execute("SAVEPOINT job")
        try:
            result = job(conn)
        except Exception as exc:
            conn.execute("ROLLBACK TO job")
            conn.execute("RELEASE job")
            outcomes.append((future, None, exc))
        else:
            conn.execute("RELEASE job")
            outcomes.append((future, result, None))
    return outcomes


def _call_each(hooks: list[Callable[[], None]]) -> None:
    for hook in hooks:
        hook()


RESOLVE_PER_TURN = 64
"""Waiters woken per turn of the event loop: a batch of 512 woken at once would make one turn
run 512 executions' next steps, and everything else on the loop (a send, an HTTP answer)
would wait for that whole turn."""


def _resolve_all(outcomes: list[_Outcome], start: int) -> None:
    end = start + RESOLVE_PER_TURN
    if end < len(outcomes):
        asyncio.get_running_loop().call_soon(_resolve_all, outcomes, end)
    for future, result, error in outcomes[start:end]:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
