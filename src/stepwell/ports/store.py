"""The Store port: what the engine needs from durable storage, named in its own terms.

Split by role, as each caller needs it: ``EngineStore`` (commit, claim, and the reads planning
makes), ``AppStore`` (the catalog of synced apps), ``EndpointStore`` (durable endpoints'
functions), ``Notifier`` (wake-ups from other
processes), ``Lifecycle`` (open, close, ping) and ``History`` (``ports/history.py``: what
presentation reads). ``Store`` combines them all: what an adapter implements.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from stepwell.ports.history import History, RecordReads
from stepwell.ports.records import (
    AppRecord,
    ChangeSet,
    CommitResult,
    EndpointRecord,
    ItemKind,
    Pause,
    PauseKind,
    QueueItem,
)


class StoreConflict(Exception):
    """A change set lost a race (a pause already consumed, a run already ended, a step
    already stored). Nothing of it was written; the engine re-plans from fresh state."""


class EngineStore(RecordReads, Protocol):
    """The engine's write-and-claim port: commit change sets, claim and renew due work, and
    the reads its planning makes (runs, events, memos, pauses, items, flow state)."""

    async def commit(self, changes: ChangeSet) -> CommitResult:
        """Apply ``changes`` in one transaction, durably, or raise ``StoreConflict``.

        Semantics every adapter keeps: a new run whose idempotency key is held is skipped
        with its items; steps are stored only for runs that have not ended and never
        overwrite a stored step; consumed pauses must still exist; a signal has one stored
        pause at most (a new pause for a signal another pause holds is a conflict; the same
        pause stored again is not); run updates only apply from the expected statuses;
        ``ended_runs`` lose their queue items and pauses; items whose id exists are re-armed
        (earlier due time kept, generation bumped); every span is upserted by
        ``(run_id, step_hash, attempt)``.
        """
        ...

    def commit_in_order(
        self, changes: ChangeSet, committing: Callable[[], None] | None = None
    ) -> Awaitable[CommitResult] | None:
        """``commit`` for an ``urgent`` change set, queued at once, if this store then lands it
        before every change set committed after this call: what to await. None if it cannot
        promise that (PostgreSQL commits over many connections); call ``commit`` instead.
        ``committing``, if the store can tell, is called on the loop while the change set's
        commit is being made durable (before the awaitable resolves); it may not be called
        at all, and is never called for a commit that failed before that."""
        ...

    async def find_pauses(
        self,
        event_name: str,
        correlation_id: str | None = None,
        kind: PauseKind = PauseKind.EVENT,
    ) -> list[Pause]:
        """Pauses of ``kind`` waiting on ``event_name`` (or, given one, on ``correlation_id``),
        oldest first."""
        ...

    async def get_item(self, item_id: str) -> QueueItem | None: ...

    async def get_states(self, keys: list[str]) -> dict[str, tuple[Any, int]]:
        """Flow-control state: key → (value, version), for the keys that exist."""
        ...

    async def items_of_kind(self, kind: ItemKind) -> list[QueueItem]: ...

    async def claim_due_items(
        self, *, now_ms: int, owner: str, lease_ms: int, limit: int
    ) -> list[QueueItem]:
        """Lease due items that nobody holds (or whose lease expired) to ``owner``."""
        ...

    async def next_due_at(self) -> int | None:
        """The earliest due time of any item nobody holds, if any."""
        ...

    async def renew_leases(self, *, owner: str, item_ids: list[str], until_ms: int) -> None: ...


class AppStore(Protocol):
    """The catalog of synced apps: their last accepted registrations, by name."""

    async def save_app(self, app: AppRecord) -> None:
        """Insert or replace the app of that name."""
        ...

    async def delete_app(self, name: str) -> None: ...

    async def list_apps(self) -> list[AppRecord]: ...


class EndpointStore(Protocol):
    """Durable endpoints' functions, by slug: made from their requests, kept so that their
    runs can be called back whichever process executes them, and after a restart."""

    async def save_endpoint(self, endpoint: EndpointRecord) -> None:
        """Insert or replace the endpoint of that slug."""
        ...

    async def get_endpoint(self, slug: str) -> EndpointRecord | None: ...

    async def list_endpoints(self) -> list[EndpointRecord]: ...


class Notifier(Protocol):
    """Hearing about work other processes commit."""

    async def listen(self, wake: Callable[[int], None]) -> None:
        """Call ``wake(due_ms)`` when another process commits work that anyone may claim
        (unleased items), due at ``due_ms``; ``wake(0)`` when wake-ups may have been missed.
        Returns once listening; listening ends at ``close``. A store that one process owns
        (SQLite) has no one else to hear from, and never calls ``wake``."""
        ...


class Lifecycle(Protocol):
    """Opening, closing and checking the database."""

    async def open(self) -> None:
        """Create or migrate the schema. A store that one process owns (SQLite) also takes
        back what a previous process left leased; a shared one (PostgreSQL) leaves that to
        the leases expiring."""
        ...

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise if the database cannot be reached (what ``/health`` reports)."""
        ...


class Store(EngineStore, AppStore, EndpointStore, Notifier, Lifecycle, History, Protocol):
    """Every role together: what an adapter implements and what the engine is given."""
