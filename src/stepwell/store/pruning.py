"""The batch loop both SQL stores prune with: short transactions, with rests between them.

Each adapter supplies one transaction per stage (``PruneBatches``); this module decides how
many and paces them, so a large backlog never monopolises the database: after each batch it
rests at least ``REST_FACTOR`` times as long as the batch took, which caps pruning at a fifth
of the write path's time whatever the backlog (on SQLite, the single writer thread).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from stepwell.ports.retention import PruneResult

REST_FACTOR = 4.0
MIN_REST_S = 0.002
"""Even a quick batch yields: commits that queued meanwhile get a transaction of their own."""

EventCursor = tuple[int, str]
"""(received_at, internal_id) of the last event a batch looked at: the next one starts after
it, so events that must stay are read once per prune, not once per batch."""
START: EventCursor = (-(2**62), "")

T = TypeVar("T")


class PruneBatches(Protocol):
    """One transaction per call. A batch may stop short of ``limit`` (SQLite's also stop
    at a time budget), so each says whether there may be more rather than leave it to the
    count."""

    async def runs(self, cutoff_ms: int, limit: int) -> tuple[int, bool]:
        """Delete up to ``limit`` ended runs (and what is keyed by them): (deleted, more)."""
        ...

    async def events(
        self, cutoff_ms: int, after: EventCursor, limit: int
    ) -> tuple[int, EventCursor | None]:
        """Look at up to ``limit`` old events after ``after`` and delete the unneeded ones:
        (deleted, cursor of the last looked at, or None once none are left)."""
        ...

    async def idempotency(self, cutoff_ms: int, limit: int) -> int:
        """Delete up to ``limit`` idempotency keys that expired before ``cutoff_ms``."""
        ...


async def prune_in_batches(
    batches: PruneBatches,
    *,
    older_than_ms: int,
    batch_size: int,
    on_batch: Callable[[PruneResult], None] | None = None,
) -> PruneResult:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    result = PruneResult()
    pacer = _Pacer(result, on_batch)

    # Runs first: deleting them drops their event links, so their events go in this same pass.
    more = True
    while more:
        deleted, more = await pacer.timed(batches.runs(older_than_ms, batch_size))
        result.runs += deleted
        result.batches += 1
        await pacer.rest()

    cursor: EventCursor | None = START
    while cursor is not None:
        deleted, cursor = await pacer.timed(batches.events(older_than_ms, cursor, batch_size))
        result.events += deleted
        result.batches += 1
        await pacer.rest()

    while True:
        deleted = await pacer.timed(batches.idempotency(older_than_ms, batch_size))
        result.idempotency_keys += deleted
        result.batches += 1
        if deleted < batch_size:
            if on_batch is not None:
                on_batch(result)
            return result
        await pacer.rest()


class _Pacer:
    def __init__(self, result: PruneResult, on_batch: Callable[[PruneResult], None] | None) -> None:
        self._last_s = 0.0
        self._result = result
        self._on_batch = on_batch

    async def timed(self, batch: Awaitable[T]) -> T:
        started = time.perf_counter()
        try:
            return await batch
        finally:
            self._last_s = time.perf_counter() - started

    async def rest(self) -> None:
        if self._on_batch is not None:  # the totals so far, once a batch is counted in
            self._on_batch(self._result)
        await asyncio.sleep(max(MIN_REST_S, self._last_s * REST_FACTOR))
