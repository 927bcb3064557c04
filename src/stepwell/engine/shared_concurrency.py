"""Concurrency limits across processes that share one database (PostgreSQL scale-out).

Same contract as ``ConcurrencyGate``, with the slots kept in the store: a key's holders (each
with a lease) live in one flow-state entry, changed by compare-and-set. In each process the
waiters of a key queue by ``rank`` (then arrival; a newcomer never overtakes the one already
asking) and only the first one asks the database, so waiting costs one read per key per poll,
not one per waiter. Held slots are renewed while their
executions run; a dead process's slots lapse with their lease.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from stepwell.core.ids import new_ulid
from stepwell.engine.concurrency import GateClosed
from stepwell.engine.keys import slots_key
from stepwell.ports.clock import Clock
from stepwell.ports.records import ChangeSet, StatePut
from stepwell.ports.store import EngineStore, StoreConflict

log = logging.getLogger("stepwell.engine")

RETRY_S = 0.02


class SharedConcurrencyGate:
    def __init__(self, store: EngineStore, clock: Clock, *, lease_ms: int) -> None:
        self._closed = False
        self._store = store
        self._clock = clock
        self._lease_ms = lease_ms
        # Per key, sorted after its head: (rank, arrival, turn); arrivals are unique.
        self._queues: dict[str, list[list[Any]]] = {}
        self._arrivals = itertools.count()
        self._released: dict[str, asyncio.Event] = {}
        self._held: dict[str, set[str]] = {}  # key -> holder ids of this process
        self._renewer: asyncio.Task[None] | None = None
        self.peak: dict[str, int] = {}

    def close(self) -> None:
        """Release every waiter with ``GateClosed``; slots held go back as executions end."""
        self._closed = True
        for queue in self._queues.values():
            for entry in queue:
                if not entry[2].done():
                    entry[2].set_exception(GateClosed())
        for event in self._released.values():
            event.set()

    def in_use(self) -> dict[str, int]:
        """The slots this process holds, by concurrency key."""
        return {key: len(holders) for key, holders in self._held.items() if holders}

    def waiting(self, key: str) -> int:
        """How many executions of this process wait for a slot of ``key``."""
        return len(self._queues.get(key, ()))

    @staticmethod
    def _state_key(key: str) -> str:
        return slots_key(key)

    @asynccontextmanager
    async def hold(self, keys: Sequence[Sequence[Any]], rank: int = 0) -> AsyncIterator[bool]:
        """Hold a slot of every key; yields whether it had to wait for one (as
        ``ConcurrencyGate.hold``)."""
        acquired: list[tuple[str, str]] = []
        waited = False
        try:
            for key, limit in sorted((str(k), int(n)) for k, n in keys):
                holder, waited_here = await self._acquire(key, limit, rank)
                acquired.append((key, holder))
                waited = waited or waited_here
            yield waited
        finally:
            for key, holder in reversed(acquired):
                await self._release(key, holder)

    async def _acquire(self, key: str, limit: int, rank: int) -> tuple[str, bool]:
        queue = self._queues.setdefault(key, [])
        loop = asyncio.get_running_loop()
        # [rank, arrival, turn]: arrival is unique, so turns are never compared.
        entry: list[Any] = [rank, next(self._arrivals), loop.create_future()]
        bisect.insort(queue, entry)
        holder = new_ulid()
        released = self._released.setdefault(key, asyncio.Event())
        waited = False
        try:
            while True:
                if self._closed:
                    raise GateClosed
                if queue[0] is not entry:
                    # Someone ranked before us asks the database; wait until we are first.
                    waited = True
                    entry[2] = loop.create_future()
                    await entry[2]
                    continue
                if await self._try_take(key, limit, holder):
                    break
                waited = True
                released.clear()
                with contextlib.suppress(TimeoutError):
                    # A local release wakes us at once; others' releases within the poll.
                    async with asyncio.timeout(RETRY_S):
                        await released.wait()
            self._held.setdefault(key, set()).add(holder)
            self._ensure_renewer()
            return holder, waited
        finally:
            queue.remove(entry)
            if queue and not queue[0][2].done():
                queue[0][2].set_result(None)  # the next in line asks the database now

    async def _try_take(self, key: str, limit: int, holder: str) -> bool:
        state_key = self._state_key(key)
        now = self._clock.now_ms()
        found = (await self._store.get_states([state_key])).get(state_key)
        holders: dict[str, int] = dict(found[0]) if found else {}
        live = {h: until for h, until in holders.items() if until > now}
        if len(live) >= limit:
            return False
        live[holder] = now + self._lease_ms
        try:
            await self._store.commit(
                ChangeSet(states=[StatePut(state_key, live, found[1] if found else None)])
            )
        except StoreConflict:
            return False  # someone else changed the slots: look again
        self.peak[key] = max(self.peak.get(key, 0), len(live))
        return True

    async def _release(self, key: str, holder: str) -> None:
        self._held.get(key, set()).discard(holder)
        await self._update(key, lambda holders: holders.pop(holder, None))
        event = self._released.get(key)
        if event is not None:
            event.set()

    async def _update(self, key: str, change: Any) -> None:
        """Apply ``change`` to the key's holders, retrying lost compare-and-sets (bounded)."""
        state_key = self._state_key(key)
        for _ in range(50):
            found = (await self._store.get_states([state_key])).get(state_key)
            if found is None:
                return
            holders = dict(found[0])
            change(holders)
            try:
                await self._store.commit(ChangeSet(states=[StatePut(state_key, holders, found[1])]))
                return
            except StoreConflict:
                await asyncio.sleep(0)
        log.warning("could not update concurrency slots of %s; their leases will lapse", key)

    def _ensure_renewer(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew_loop(), name="stepwell-slot-leases")

    async def _renew_loop(self) -> None:
        while any(self._held.values()):
            await asyncio.sleep(self._lease_ms / 3000)
            until = self._clock.now_ms() + self._lease_ms
            for key, mine in list(self._held.items()):
                if mine:
                    held = set(mine)

                    def extend(
                        holders: dict[str, int], held: set[str] = held, until: int = until
                    ) -> None:
                        for holder in held & set(holders):
                            holders[holder] = until

                    await self._update(key, extend)
