"""Retention: prune what is older than the window, once soon after start and then regularly.

The store does the work in short, paced batches (``Pruner.prune``), so a pass over a large
backlog may take a while without holding the write path; passes never overlap, as the next
one is scheduled only after the last has finished. A failed pass is logged and tried again at
the next interval: retention must never stop the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from stepwell.ports.clock import Clock
from stepwell.ports.retention import DEFAULT_PRUNE_BATCH, Pruner, PruneResult

log = logging.getLogger("stepwell.retention")

INTERVAL_S = 60.0
FIRST_DELAY_S = 5.0
"""Not at once: let start-up (recovery of leased work, crons) have the database first."""


class RetentionTask:
    def __init__(
        self,
        pruner: Pruner,
        clock: Clock,
        *,
        window_ms: int,
        interval_s: float = INTERVAL_S,
        first_delay_s: float = FIRST_DELAY_S,
        batch_size: int = DEFAULT_PRUNE_BATCH,
    ) -> None:
        if window_ms <= 0:
            raise ValueError(f"the retention window must be positive, got {window_ms} ms")
        self._pruner = pruner
        self._clock = clock
        self.window_ms = window_ms
        self._interval_s = interval_s
        self._first_delay_s = first_delay_s
        self._batch_size = batch_size
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        """Passes finished (successfully or not): what tests and metrics wait on."""
        self.last: PruneResult | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._loop(), name="stepwell-retention")

    async def stop(self) -> None:
        """Cancel at once: a batch in flight is one short transaction, committed or not."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> PruneResult:
        cutoff = self._clock.now_ms() - self.window_ms
        result = await self._pruner.prune(older_than_ms=cutoff, batch_size=self._batch_size)
        self.last = result
        if result.runs or result.events or result.idempotency_keys:
            log.info(
                "retention: deleted %d runs, %d events, %d idempotency keys in %d batches",
                result.runs,
                result.events,
                result.idempotency_keys,
                result.batches,
            )
        return result

    async def _loop(self) -> None:
        await asyncio.sleep(self._first_delay_s)
        while True:
            try:
                await self.run_once()
            except Exception:
                log.warning("retention: pruning failed; trying again later", exc_info=True)
            finally:
                self.passes += 1
            await asyncio.sleep(self._interval_s)
