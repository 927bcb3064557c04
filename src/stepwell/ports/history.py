"""The read port: what presentation (GraphQL, REST, the dashboard, the CLI) reads of history.

Reads only, never writes: the server and the dashboard see runs, events, steps and their
trace through this port and the engine's public methods, never through the engine's store.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from stepwell.core.runs import RunStatus
from stepwell.ports.records import QueueItem, RunRecord, StepSpan, StoredEvent


class RunTime(StrEnum):
    """A run's time to filter and order runs by (GraphQL's ``RunsV2OrderByField``)."""

    QUEUED = "created_at"
    STARTED = "started_at"
    ENDED = "ended_at"


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Which runs, in which order, one page of how many.

    A filter left ``None`` does not filter; an empty tuple matches nothing. The window is on
    ``time_field`` (``since <= t < until``; runs whose time is unset are left out). Runs are
    ordered by ``order_by`` (unset times order as 0), then by run id, and paged by keyset:
    ``after`` is the ``end_cursor`` of the page before."""

    since: int | None = None
    until: int | None = None
    time_field: RunTime = RunTime.QUEUED
    function_ids: tuple[str, ...] | None = None
    """Function slugs (``<app id>-<function id>``)."""
    app_ids: tuple[str, ...] | None = None
    statuses: tuple[RunStatus, ...] | None = None
    order_by: RunTime = RunTime.QUEUED
    descending: bool = True
    first: int = 100
    after: str | None = None


@dataclass(frozen=True, slots=True)
class RunPage:
    runs: list[RunRecord]
    end_cursor: str | None
    """The cursor of the page's last run (``RunQuery.after`` for the next page); None when
    the page is empty. Opaque to callers."""
    has_more: bool
    """Whether runs follow this page."""


@dataclass(frozen=True, slots=True)
class ActivityBucket:
    """Runs of one slice of time: created in it, and ended in it by how they ended."""

    start: int
    started: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0


@dataclass(frozen=True, slots=True)
class Backlog:
    """Due work nobody holds: queue items due by now and not leased (or their lease ran out)."""

    due: int
    oldest_due_at: int | None


@dataclass(frozen=True, slots=True)
class SuspendedRuns:
    """Runs that wait: for a sleep to end, or for an event, an invoked run or a signal."""

    sleeping: int
    waiting: int


class UnknownCursor(ValueError):
    """``RunQuery.after`` names no run the query matches."""


class RecordReads(Protocol):
    """Runs, events and memos by key: what the engine plans with and presentation shows."""

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(
        self,
        *,
        function_id: str | None = None,
        event_id: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Newest first."""
        ...

    async def get_events(self, internal_ids: list[str]) -> list[StoredEvent]:
        """In the order asked for; unknown ids are left out."""
        ...

    async def list_events(
        self,
        *,
        name: str | None = None,
        limit: int = 100,
        before_id: str | None = None,
        received_after: int | None = None,
        received_before: int | None = None,
    ) -> list[StoredEvent]:
        """Newest first; ``before_id`` pages back from an earlier page's last id."""
        ...

    async def load_memo(self, run_id: str) -> dict[str, Any]:
        """Hashed step id → stored value, in the order the results were saved."""
        ...


class History(RecordReads, Protocol):
    """Everything presentation reads: the record reads, runs queried and paged in the
    database, and each run's trace."""

    async def query_runs(self, query: RunQuery) -> RunPage:
        """One page of the runs ``query`` matches; ``UnknownCursor`` for a bad ``after``."""
        ...

    async def count_runs(self, query: RunQuery) -> int:
        """How many runs ``query`` matches, all pages together (``first``/``after`` ignored)."""
        ...

    async def run_function_ids(self) -> list[str]:
        """The slugs of every function that has runs stored, sorted."""
        ...

    async def run_trace(self, run_id: str) -> list[StepSpan]:
        """The run's step spans, by start time then attempt."""
        ...

    async def run_jobs(self, run_id: str) -> list[QueueItem]:
        """The run's queued work (execute, sleep, wait timeouts ...), soonest due first."""
        ...

    async def runs_fingerprint(self) -> str:
        """Changes whenever a run is created, starts or ends: read from indexes only, so a
        live page can ask every second without scanning runs."""
        ...

    async def run_activity(self, since: int, until: int, bucket_ms: int) -> list[ActivityBucket]:
        """Runs created and ended in ``[since, until)``, counted in buckets of ``bucket_ms``
        (every bucket, empty ones too, oldest first)."""
        ...

    async def suspended_runs(self) -> SuspendedRuns:
        """How many runs sleep, and how many wait for something, right now."""
        ...

    async def backlog(self, now: int) -> Backlog:
        """Queue items due by ``now`` that no process holds."""
        ...

    async def steps_ended(self, since: int, runs_since: int) -> int:
        """Step attempts that ended at ``since`` or later, among runs created at
        ``runs_since`` or later or ended at ``since`` or later (bounded: never every run)."""
        ...

    async def correlated_runs(
        self, correlation_ids: list[str], created_since: int
    ) -> list[RunRecord]:
        """Runs with one of ``correlation_ids`` (an invoked run's is ``<parent>.<step
        hash>``) created at ``created_since`` or later, oldest first."""
        ...
