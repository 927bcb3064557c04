"""Prune batches in PostgreSQL: each one statement, so one short transaction (autocommit).

They use a reader connection, not the writer's: a batch takes row locks only on ended runs
and old events, which no commit waits for (a run that ended never changes again), so the
write path goes on beside it. ``FOR UPDATE SKIP LOCKED`` lets several processes prune at
once, each taking different rows.

An event's links are checked at the statement's snapshot: an old event that a transaction
still in flight starts to refer to (replaying events older than the window) can lose that
race. Nothing else refers to an event once it is older than the window.
"""

from __future__ import annotations

from typing import Any

from stepwell.core.runs import RunStatus
from stepwell.ports.records import RUN_OWNED_STATES
from stepwell.store.postgres.pool import ConnectionPool
from stepwell.store.pruning import EventCursor

_ENDED = [RunStatus.COMPLETED.value, RunStatus.FAILED.value, RunStatus.CANCELLED.value]

# Data-modifying CTEs all see the snapshot the statement started with, so the run stage and
# the event stage are separate statements: events see their runs' links already gone.
# ``col = ANY (ARRAY(subquery))`` evaluates the subquery once and probes the index with the
# array, whatever the planner guesses of the rows (as a join, it guessed ~100 link rows per
# run and hash-joined over a scan of all of run_events).
PRUNE_RUNS = """
WITH doomed AS MATERIALIZED (
    SELECT run_id, event_ids FROM runs
    WHERE ended_at < %(cutoff)s AND status = ANY (%(ended)s)
    ORDER BY ended_at, run_id LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), links AS (
    -- By the key's leading column; the run test alone decides which links go.
    DELETE FROM run_events
    WHERE event_id = ANY (ARRAY(SELECT jsonb_array_elements_text(event_ids::jsonb) FROM doomed))
      AND run_id = ANY (ARRAY(SELECT run_id FROM doomed))
), steps_gone AS (
    DELETE FROM steps WHERE run_id = ANY (ARRAY(SELECT run_id FROM doomed))
), spans_gone AS (
    DELETE FROM spans WHERE run_id = ANY (ARRAY(SELECT run_id FROM doomed))
), queue_gone AS (
    DELETE FROM queue WHERE run_id = ANY (ARRAY(SELECT run_id FROM doomed))
), pauses_gone AS (
    DELETE FROM pauses WHERE run_id = ANY (ARRAY(SELECT run_id FROM doomed))
), states_gone AS (
    -- A run's own flow state (its metadata, its deferred runs): the prefixes and its id.
    DELETE FROM flow_state WHERE key = ANY (ARRAY(
        SELECT prefix || run_id FROM doomed, unnest(%(run_states)s::text[]) AS prefix))
), runs_gone AS (
    DELETE FROM runs WHERE run_id = ANY (ARRAY(SELECT run_id FROM doomed)) RETURNING 1
)
SELECT count(*) FROM runs_gone
"""

# Debounce and batch items hold the ids of the events they will start a run with. No row
# lock: a second process deleting the same events waits for this short statement, then finds
# them gone.
PRUNE_EVENTS = """
WITH seen AS MATERIALIZED (
    SELECT received_at, internal_id FROM events
    WHERE received_at < %(cutoff)s AND (received_at, internal_id) > (%(after_at)s, %(after_id)s)
    ORDER BY received_at, internal_id LIMIT %(limit)s
), held AS (
    SELECT ids.event_id FROM queue AS q,
        jsonb_array_elements_text(q.payload::jsonb -> 'event_ids') AS ids(event_id)
    WHERE q.kind IN ('debounce', 'batch') AND q.payload IS NOT NULL
), gone AS (
    DELETE FROM events WHERE internal_id = ANY (ARRAY(
        SELECT seen.internal_id FROM seen
        WHERE NOT EXISTS (SELECT 1 FROM run_events AS re WHERE re.event_id = seen.internal_id)
          AND NOT EXISTS (SELECT 1 FROM held WHERE held.event_id = seen.internal_id)))
    RETURNING 1
), last AS (
    SELECT received_at, internal_id FROM seen ORDER BY received_at DESC, internal_id DESC
    LIMIT 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM seen),
       (SELECT received_at FROM last), (SELECT internal_id FROM last)
"""

PRUNE_IDEMPOTENCY = """
WITH gone AS (
    DELETE FROM idempotency WHERE key = ANY (ARRAY(
        SELECT key FROM idempotency WHERE expires_at < %(cutoff)s
        ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED))
    RETURNING 1
)
SELECT count(*) FROM gone
"""


class PostgresPruneBatches:
    """``PruneBatches`` as single statements on a pooled connection."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    async def _one(self, query: str, params: dict[str, Any]) -> tuple[Any, ...]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(query, params)
            row = await cursor.fetchone()
        assert row is not None
        return row

    async def runs(self, cutoff_ms: int, limit: int) -> tuple[int, bool]:
        params = {"cutoff": cutoff_ms, "ended": _ENDED, "limit": limit}
        row = await self._one(PRUNE_RUNS, {**params, "run_states": list(RUN_OWNED_STATES)})
        # Fewer than asked: none left, or the rest locked by another process pruning them.
        return int(row[0]), int(row[0]) == limit

    async def events(
        self, cutoff_ms: int, after: EventCursor, limit: int
    ) -> tuple[int, EventCursor | None]:
        params = {"cutoff": cutoff_ms, "after_at": after[0], "after_id": after[1], "limit": limit}
        deleted, seen, last_at, last_id = await self._one(PRUNE_EVENTS, params)
        if int(seen) < limit:
            return int(deleted), None
        return int(deleted), (int(last_at), str(last_id))

    async def idempotency(self, cutoff_ms: int, limit: int) -> int:
        row = await self._one(PRUNE_IDEMPOTENCY, {"cutoff": cutoff_ms, "limit": limit})
        return int(row[0])
