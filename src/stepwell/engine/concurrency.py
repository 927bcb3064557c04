"""Concurrency limits (protocol.md §3.4.2): executing work per key never exceeds its limit.

A run holds a slot only while it executes: a sleeping or waiting run holds none. Waiters queue
per key, so one busy key never delays another (fairness between keys), in order of their
``rank`` and then of arrival: the executor ranks a run by its creation time moved earlier by its
``priority.run`` seconds, so of the runs waiting for a slot a prioritised one goes first, as it
would in Inngest's queue. ``close`` releases every waiter with ``GateClosed`` when the engine
stops: such a run gives up waiting and stays queued.

This gate counts within one process, for a store that one process owns (SQLite). Processes that
share a PostgreSQL database use ``SharedConcurrencyGate`` (``shared_concurrency.py``), which
keeps the same contract with the slots held in the store.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

_NOTHING_HELD = nullcontext(False)
"""What holding no key is: no wait (reusable, unlike a generator-based context manager)."""


class GateClosed(Exception):
    """The engine is stopping: a run still waiting for a slot gives up; it stays queued."""


class ConcurrencyGate:
    def __init__(self) -> None:
        self._closed = False
        self._held: dict[str, int] = {}
        # Per key, sorted: (rank, arrival, ticket, limit); arrival is unique, so tickets are
        # never compared.
        self._waiters: dict[str, list[tuple[int, int, asyncio.Future[None], int]]] = {}
        self._arrivals = itertools.count()
        self.peak: dict[str, int] = {}
        """The most slots each key ever had in use at once (for tests and operators)."""

    def close(self) -> None:
        """Release every waiter with ``GateClosed`` (they run no user code: no grace needed)."""
        self._closed = True
        for waiters in self._waiters.values():
            for _, _, ticket, _ in waiters:
                if not ticket.done():
                    ticket.set_exception(GateClosed())

    def in_use(self) -> dict[str, int]:
        """The slots this process holds, by concurrency key."""
        return {key: held for key, held in self._held.items() if held}

    def waiting(self, key: str) -> int:
        """How many executions wait for a slot of ``key`` here (for tests and operators)."""
        return sum(1 for entry in self._waiters.get(key, []) if not entry[2].done())

    def hold(
        self, keys: Sequence[Sequence[Any]], rank: int = 0
    ) -> AbstractAsyncContextManager[bool]:
        """Hold a slot of every key; yields whether it had to wait for one. Of the waiters of a
        key, the lowest ``rank`` goes first (arrival order among equals)."""
        if not keys:
            return _NOTHING_HELD  # most functions have no concurrency keys: nothing to wait for
        return self._hold(keys, rank)

    @asynccontextmanager
    async def _hold(self, keys: Sequence[Sequence[Any]], rank: int) -> AsyncIterator[bool]:
        acquired: list[str] = []
        waited = False
        try:
            # One order for everyone, so two runs needing two keys cannot deadlock.
            for key, limit in sorted((str(k), int(n)) for k, n in keys):
                waited = await self._acquire(key, limit, rank) or waited
                acquired.append(key)
            yield waited
        finally:
            for key in reversed(acquired):
                self._release(key)

    async def _acquire(self, key: str, limit: int, rank: int) -> bool:
        if self._closed:
            raise GateClosed
        waiters = self._waiters.setdefault(key, [])
        if self._held.get(key, 0) < limit and not waiters:
            self._take(key)
            return False
        ticket: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (rank, next(self._arrivals), ticket, limit)
        bisect.insort(waiters, entry)
        try:
            await ticket  # the releasing side takes the slot for us before waking us
        except asyncio.CancelledError:
            if ticket.done() and not ticket.cancelled():
                self._release(key)  # woken and cancelled at once: hand the slot on
            else:
                with contextlib.suppress(ValueError):  # a release may have dropped it already
                    waiters.remove(entry)
            raise
        return True

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
            _, _, ticket, limit = entry
            if ticket.done():
                waiters.remove(entry)
                continue
            if self._held[key] < limit:
                waiters.remove(entry)
                self._take(key)
                ticket.set_result(None)
                return
