"""Concurrency limits (protocol.md §3.4.2): executing work per key never exceeds its limit.

A run holds a slot only while it executes: a sleeping or waiting run holds none. Waiters queue
per key in arrival order, so one busy key never delays another (fairness between keys). This
gate counts within one process; PostgreSQL scale-out needs the same contract kept in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any


class ConcurrencyGate:
    def __init__(self) -> None:
        self._held: dict[str, int] = {}
        self._waiters: dict[str, deque[tuple[asyncio.Future[None], int]]] = {}
        self.peak: dict[str, int] = {}
        """The most slots each key ever had in use at once (for tests and operators)."""

    @asynccontextmanager
    async def hold(self, keys: Sequence[Sequence[Any]]) -> AsyncIterator[None]:
        acquired: list[str] = []
        try:
            # One order for everyone, so two runs needing two keys cannot deadlock.
            for key, limit in sorted((str(k), int(n)) for k, n in keys):
                await self._acquire(key, limit)
                acquired.append(key)
            yield
        finally:
            for key in reversed(acquired):
                self._release(key)

    async def _acquire(self, key: str, limit: int) -> None:
        waiters = self._waiters.setdefault(key, deque())
        if self._held.get(key, 0) < limit and not waiters:
            self._take(key)
            return
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (ticket, limit)
        waiters.append(entry)
        try:
            await ticket  # the releasing side takes the slot for us before waking us
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._release(key)  # woken and cancelled at once: hand the slot on
            else:
                with contextlib.suppress(ValueError):  # a release may have dropped it already
                    waiters.remove(entry)
            raise

    def _take(self, key: str) -> None:
        held = self._held.get(key, 0) + 1
        self._held[key] = held
        self.peak[key] = max(self.peak.get(key, 0), held)

    def _release(self, key: str) -> None:
        self._held[key] -= 1
        waiters = self._waiters.get(key)
        if not waiters:
            return
        # The first waiter whose own limit allows another holder (a key shared by functions
        # with different limits); cancelled ones are dropped on the way.
        for entry in list(waiters):
            ticket, limit = entry
            if ticket.done():
                waiters.remove(entry)
                continue
            if self._held[key] < limit:
                waiters.remove(entry)
                self._take(key)
                ticket.set_result(None)
                return
