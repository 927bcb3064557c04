"""Prune batches in SQLite: each one a job of the group-committing writer.

Going through the writer (not a connection of our own) keeps SQLite's one-writer rule without
lock waits, and makes each batch a short transaction shared with whatever commits were queued
at that moment; ``stepwell.store.pruning`` rests between batches so those commits never wait
behind more than one. Reads that decide what to delete run in the same transaction as the
deletes, so a run or event cannot become needed in between.

Every commit that arrives while a batch runs waits for it, so a batch also stops at a time
budget: 500 runs of 5 steps cost 10-20 ms here, and a run's cost grows with its memo. It
works in chunks and stops after the first chunk that ends past the budget. Measured with
bench/retention.py, step commits' p99 beside a prune rose 1.3x with 2 ms, 3.1x with 5 ms,
at about the same pruning rate (set by the rests, not the batch length).
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

from stepwell.core.runs import RunStatus
from stepwell.ports.records import RUN_OWNED_STATES
from stepwell.store.pruning import EventCursor

Submit = Callable[[Callable[[sqlite3.Connection], Any]], Awaitable[Any]]

BUDGET_S = 0.002
RUN_CHUNK = 25
EVENT_CHUNK = 100

_ENDED = (RunStatus.COMPLETED.value, RunStatus.FAILED.value, RunStatus.CANCELLED.value)

ENDED_RUNS = (
    "SELECT run_id, event_ids FROM runs "
    "WHERE ended_at IS NOT NULL AND ended_at < ? AND status IN (?, ?, ?) "
    "ORDER BY ended_at, run_id LIMIT ?"
)
DELETE_RUN_EVENT = "DELETE FROM run_events WHERE event_id = ? AND run_id = ?"
# Each keyed by run_id through an index (steps' UNIQUE, queue_run, pauses_run, spans' key).
DELETE_BY_RUN = tuple(
    f"DELETE FROM {table} WHERE run_id = ?" for table in ("steps", "spans", "queue", "pauses")
)
DELETE_RUN = "DELETE FROM runs WHERE run_id = ? AND status IN (?, ?, ?)"
DELETE_RUN_STATE = "DELETE FROM flow_state WHERE key = ?"

OLD_EVENTS = (
    "SELECT received_at, internal_id FROM events "
    "WHERE received_at < ? AND (received_at, internal_id) > (?, ?) "
    "ORDER BY received_at, internal_id LIMIT ?"
)
# Debounce and batch items hold the ids of the events they will start a run with.
HELD_EVENTS = (
    "SELECT ids.value FROM queue, json_each(queue.payload, '$.event_ids') AS ids "
    "WHERE queue.kind IN ('debounce', 'batch') AND queue.payload IS NOT NULL"
)
DELETE_UNLINKED_EVENT = (
    "DELETE FROM events WHERE internal_id = ? "
    "AND NOT EXISTS (SELECT 1 FROM run_events WHERE event_id = ?)"
)

DELETE_EXPIRED_KEYS = (
    "DELETE FROM idempotency WHERE key IN "
    "(SELECT key FROM idempotency WHERE expires_at < ? ORDER BY expires_at LIMIT ?)"
)


def prune_runs(conn: sqlite3.Connection, cutoff_ms: int, limit: int) -> tuple[int, bool]:
    """Up to ``limit`` ended runs, within the budget: (deleted, more may be left)."""
    deadline = time.perf_counter() + BUDGET_S
    deleted = 0
    while deleted < limit:
        asked = min(RUN_CHUNK, limit - deleted)
        found, gone = _prune_run_chunk(conn, cutoff_ms, asked)
        deleted += gone
        if found < asked:
            return deleted, False
        if time.perf_counter() >= deadline:
            break
    return deleted, True


def _prune_run_chunk(conn: sqlite3.Connection, cutoff_ms: int, limit: int) -> tuple[int, int]:
    rows = conn.execute(ENDED_RUNS, (cutoff_ms, *_ENDED, limit)).fetchall()
    if not rows:
        return 0, 0
    # run_events is keyed (event_id, run_id): delete each link by its key, from the run's
    # own list, rather than scan the table for the run.
    links = [(event_id, run_id) for run_id, ids in rows for event_id in json.loads(ids)]
    conn.executemany(DELETE_RUN_EVENT, links)
    keys = [(run_id,) for run_id, _ in rows]
    for statement in DELETE_BY_RUN:
        conn.executemany(statement, keys)
    states = [(prefix + run_id,) for run_id, _ in rows for prefix in RUN_OWNED_STATES]
    conn.executemany(DELETE_RUN_STATE, states)
    gone = conn.executemany(DELETE_RUN, [(run_id, *_ENDED) for run_id, _ in rows]).rowcount
    return len(rows), gone


def prune_events(
    conn: sqlite3.Connection, cutoff_ms: int, after: EventCursor, limit: int
) -> tuple[int, EventCursor | None]:
    """Look at up to ``limit`` old events after ``after``, within the budget: (deleted,
    cursor of the last looked at, or None once none are left)."""
    deadline = time.perf_counter() + BUDGET_S
    # The held ids change only in commits, and none runs inside this job.
    held = {row[0] for row in conn.execute(HELD_EVENTS)}
    deleted = seen = 0
    cursor = after
    while seen < limit:
        asked = min(EVENT_CHUNK, limit - seen)
        rows = conn.execute(OLD_EVENTS, (cutoff_ms, *cursor, asked)).fetchall()
        doomed = [(event_id, event_id) for _, event_id in rows if event_id not in held]
        if doomed:
            deleted += conn.executemany(DELETE_UNLINKED_EVENT, doomed).rowcount
        seen += len(rows)
        if len(rows) < asked:
            return deleted, None
        cursor = (int(rows[-1][0]), str(rows[-1][1]))
        if time.perf_counter() >= deadline:
            break
    return deleted, cursor


def prune_idempotency(conn: sqlite3.Connection, cutoff_ms: int, limit: int) -> int:
    return conn.execute(DELETE_EXPIRED_KEYS, (cutoff_ms, limit)).rowcount


class SqlitePruneBatches:
    """``PruneBatches`` as writer jobs."""

    def __init__(self, submit: Submit) -> None:
        self._submit = submit

    async def runs(self, cutoff_ms: int, limit: int) -> tuple[int, bool]:
        outcome: tuple[int, bool] = await self._submit(
            lambda conn: prune_runs(conn, cutoff_ms, limit)
        )
        return outcome

    async def events(
        self, cutoff_ms: int, after: EventCursor, limit: int
    ) -> tuple[int, EventCursor | None]:
        outcome: tuple[int, EventCursor | None] = await self._submit(
            lambda conn: prune_events(conn, cutoff_ms, after, limit)
        )
        return outcome

    async def idempotency(self, cutoff_ms: int, limit: int) -> int:
        deleted: int = await self._submit(lambda conn: prune_idempotency(conn, cutoff_ms, limit))
        return deleted
