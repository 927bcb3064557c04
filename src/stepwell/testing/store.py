"""The test kit's store: our SQLite adapter, watched.

It is the production adapter (same schema, same writer, same transactions) with three things a
test needs on top: a wake-up for each commit (so waiting for the engine to go idle needs no
polling loop), the engine poller's wake-up (so moving the virtual clock is noticed at once),
and one consistent read of the queue: how much work is due now and when the next is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from stepwell.ports.records import ChangeSet, CommitResult
from stepwell.store.sqlite.store import SqliteStore


@dataclass(frozen=True, slots=True)
class QueueState:
    """The queue at one instant: items due by ``now`` (held or not), and the next due time."""

    due_now: int
    next_due_at: int | None
    due_items: tuple[str, ...] = ()


class WatchedStore(SqliteStore):
    def __init__(self, path: str, *, durability: str = "normal") -> None:
        super().__init__(path, durability=durability)
        self.wakers: list[Callable[[int], None]] = []
        self._committed: asyncio.Event | None = None
        self.commits = 0

    async def listen(self, wake: Callable[[int], None]) -> None:
        """The engine hands its poller's wake-up here; the test kit calls it when time moves."""
        self.wakers.append(wake)

    async def commit(self, changes: ChangeSet) -> CommitResult:
        try:
            return await super().commit(changes)
        finally:
            self._counted()

    def commit_in_order(
        self, changes: ChangeSet, committing: Callable[[], None] | None = None
    ) -> Awaitable[CommitResult] | None:
        queued = super().commit_in_order(changes, committing)
        if queued is None:
            return None

        async def counted() -> CommitResult:
            try:
                return await queued
            finally:
                self._counted()

        return counted()

    def _counted(self) -> None:
        self.commits += 1
        if self._committed is not None:
            self._committed.set()

    async def next_commit(self, timeout_s: float) -> None:
        """Return after the next commit, or after ``timeout_s`` at most."""
        if self._committed is None:
            self._committed = asyncio.Event()
        self._committed.clear()
        try:
            async with asyncio.timeout(timeout_s):
                await self._committed.wait()
        except TimeoutError:
            pass

    async def queue_state(self, now_ms: int) -> QueueState:
        """One statement, so one snapshot: an item moving from one kind to another (a
        timer firing queues an execution) is never missed between two reads."""
        rows = await self._query(
            "SELECT count(*) FILTER (WHERE due_at <= ?), min(due_at) FILTER (WHERE due_at > ?) "
            "FROM queue",
            (now_ms, now_ms),
        )
        due, following = rows[0]
        due_items: tuple[str, ...] = ()
        if due:
            listed = await self._query(
                "SELECT item_id FROM queue WHERE due_at <= ? ORDER BY due_at LIMIT 5", (now_ms,)
            )
            due_items = tuple(str(row[0]) for row in listed)
        return QueueState(int(due), None if following is None else int(following), due_items)
