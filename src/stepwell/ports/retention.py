"""The Pruner role: deleting what a retention window no longer keeps.

A separate port from ``Store`` (which every adapter must implement in full) so the engine and
the CLI can ask for just this, and a store without it still serves everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

DEFAULT_PRUNE_BATCH = 500
"""Runs (or events) per transaction: small enough that no transaction holds the write path
for long, large enough that a backlog of millions goes in minutes."""


@dataclass(slots=True)
class PruneResult:
    runs: int = 0
    """Ended runs deleted, each with its steps, queue items, pauses and event links."""
    events: int = 0
    idempotency_keys: int = 0
    """Expired idempotency keys (a key still held is kept even if its run was deleted)."""
    batches: int = 0
    """Transactions it took."""


@runtime_checkable
class Pruner(Protocol):
    async def prune(
        self,
        *,
        older_than_ms: int,
        batch_size: int = DEFAULT_PRUNE_BATCH,
        on_batch: Callable[[PruneResult], None] | None = None,
    ) -> PruneResult:
        """Delete, in short transactions of at most ``batch_size`` rows each, pausing
        between them (``on_batch`` sees the running totals after each one):

        - runs that ended (Completed, Failed, Cancelled) before ``older_than_ms``, with
          everything keyed by them; runs that have not ended are never touched, however old;
        - events received before ``older_than_ms`` that no stored run (live or ended) and
          no pending debounce or batch refers to; a live run's events are kept, and so are
          an ended run's until that run is deleted;
        - idempotency keys that expired before ``older_than_ms``.
        """
        ...
