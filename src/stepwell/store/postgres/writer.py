"""One writer task that group-commits: every change set waiting when a batch starts joins it.

The batch goes to the database as one JSON array in one statement (``stepwell_commit_v2``),
which applies each change set in its own subtransaction and commits them together: one round
trip and one WAL flush for the whole batch, however many runs contributed to it. While a batch
is in flight the next one fills up, so batches grow with load on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection

from stepwell.ports.records import ChangeSet, CommitResult
from stepwell.ports.store import StoreConflict
from stepwell.store.postgres.rows import change_set_doc
from stepwell.store.rows import dumps

log = logging.getLogger("stepwell.store.postgres")

Connection = AsyncConnection[tuple[Any, ...]]
Connect = Callable[[], Awaitable[Connection]]
_Entry = tuple[str, asyncio.Future[CommitResult]]


class ChangeSetError(Exception):
    """A change set failed in the database for a reason other than a lost race."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(f"{message} (SQLSTATE {sqlstate})")
        self.sqlstate = sqlstate


class GroupCommitWriter:
    def __init__(self, connect: Connect, *, sender: str, max_batch: int = 512) -> None:
        self._connect = connect
        self._sender = sender
        self._max_batch = max_batch
        self._queue: asyncio.Queue[_Entry | None] = asyncio.Queue()
        self._conn: Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self.on_batch: Callable[[int, float], None] | None = None
        """Told each transaction's change-set count and seconds, if set."""

    async def start(self) -> None:
        self._conn = await self._connect()
        self._task = asyncio.create_task(self._run(), name="stepwell-postgres-writer")

    async def stop(self) -> None:
        """Commit what is queued, then close the connection."""
        if self._task is not None:
            self._queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def submit(self, changes: ChangeSet) -> CommitResult:
        if self._task is None or self._task.done():
            raise RuntimeError("the PostgreSQL writer is not running (store not open?)")
        # Encoded here, on the caller's task, so the writer only joins strings.
        future: asyncio.Future[CommitResult] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((dumps(change_set_doc(changes)), future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = [first]
            stop_after = False
            while len(batch) < self._max_batch and not self._queue.empty():
                entry = self._queue.get_nowait()
                if entry is None:
                    stop_after = True
                    break
                batch.append(entry)
            await self._commit(batch)
            if stop_after:
                return

    async def _commit(self, batch: list[_Entry]) -> None:
        began = time.perf_counter()
        try:
            conn = await self._connection()
            cursor = await conn.execute(
                "SELECT stepwell_commit_v2(%s::jsonb, %s)::text",
                ("[" + ",".join(doc for doc, _ in batch) + "]", self._sender),
            )
            row = await cursor.fetchone()
            assert row is not None
            outcomes = json.loads(row[0])
            if self.on_batch is not None:
                self.on_batch(len(batch), time.perf_counter() - began)
        except Exception as exc:
            # Connection lost or the like: whether the batch committed is unknown to us, as it
            # would be to any client; the callers see the error.
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # the caller gave up waiting (cancelled)
                continue
            if "conflict" in outcome:
                future.set_exception(StoreConflict(outcome["conflict"]))
            elif "error" in outcome:
                future.set_exception(ChangeSetError(outcome["error"], outcome["sqlstate"]))
            else:
                future.set_result(
                    CommitResult(
                        skipped_runs=set(outcome["skipped"]), rearmed_items=set(outcome["rearmed"])
                    )
                )

    async def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._conn is not None:
                log.warning("the PostgreSQL writer connection was lost; reconnecting")
                await self._conn.close()
            self._conn = None
            self._conn = await self._connect()
        return self._conn
