"""Concurrent ``POST /e/{key}`` requests committed together, each answered as if alone.

Every commit costs the engine a plan, a store job, telemetry and the crossings log, whatever
its size: per single-event request, about as much as the request's own work. Requests whose
handlers run in the same turn of the event loop (their bodies arrived in the same read of
the loop's sockets) are validated one by one, as before, and those accepted are then stored
in one commit: the events of a group are stored as one request's array of them would be.
Nothing waits for a group to fill: it is committed at the end of the turn that opened it.
Only small sends are grouped (``MAX_GROUPED``).

A failed group commit is retried request by request, so that one request's failure is its
own, as when each had its own commit.
"""

from __future__ import annotations

import asyncio

from stepwell.engine.engine import Engine
from stepwell.ports.records import StoredEvent

MAX_GROUPED = 20
"""Sends of more events than this commit alone: their commit's cost is already shared by
many events, and grouping them measured no better (the loop's CPU per event went up)."""
MAX_GROUP_EVENTS = 1000
"""A group's commit stays the size of a large request's."""

_Member = tuple[list[StoredEvent], asyncio.Future[None]]


class SendGroups:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._open: list[_Member] | None = None
        self._open_events = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def ingest(self, stored: list[StoredEvent]) -> None:
        """``engine.ingest(stored)``, in a commit shared with the sends of this turn."""
        if len(stored) > MAX_GROUPED:
            await self._engine.ingest(stored)
            return
        group = self._open
        if group is None or self._open_events + len(stored) > MAX_GROUP_EVENTS:
            group = self._open = []
            self._open_events = 0
            # Its first step runs after the handlers already scheduled in this turn.
            task = asyncio.get_running_loop().create_task(self._commit(group))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        group.append((stored, future))
        self._open_events += len(stored)
        await future

    async def _commit(self, group: list[_Member]) -> None:
        if self._open is group:
            self._open = None  # closed: sends from here on open the next group
        try:
            if len(group) > 1:
                try:
                    await self._engine.ingest([event for stored, _ in group for event in stored])
                except Exception:
                    pass  # each again on its own below: its own error, or its commit
                else:
                    for _, future in group:
                        if not future.done():
                            future.set_result(None)
                    return
            for stored, future in group:
                try:
                    await self._engine.ingest(stored)
                except Exception as exc:
                    if not future.done():
                        future.set_exception(exc)
                else:
                    if not future.done():
                        future.set_result(None)
        finally:
            for _, future in group:  # cancelled (the server stopping): nobody is left waiting
                if not future.done():
                    future.cancel()
