"""The read SQL of both SQL stores, written once.

Both schemas hold the same values in the same columns (JSON as text, ``store/rows.py`` reads
rows into records), so a read differs between SQLite and PostgreSQL only in narrow details,
which each adapter supplies as a ``Dialect``: how a parameter is written, how a column is
tested against a list of values, and which column keeps insertion order. Queries here are
written with ``?`` parameters; ``Dialect.sql`` (``store/dialect.py``) turns them into the
adapter's style.

``SqlReads`` is the mixin both adapters inherit: it implements every read of the ``Store``
port (the engine's, the catalog's and ``History``) on one hook, ``_fetch``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from stepwell.core.runs import RunStatus
from stepwell.ports.history import (
    ActivityBucket,
    Backlog,
    RunPage,
    RunQuery,
    SuspendedRuns,
    UnknownCursor,
)
from stepwell.ports.records import (
    AppRecord,
    EndpointRecord,
    ItemKind,
    Pause,
    PauseKind,
    QueueItem,
    RunRecord,
    StepSpan,
    StoredEvent,
)
from stepwell.store.dialect import Dialect
from stepwell.store.rows import (
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    PAUSE_COLUMNS,
    RUN_COLUMNS,
    SPAN_COLUMNS,
    event_from_row,
    item_from_row,
    pause_from_row,
    run_from_row,
    span_from_row,
)
from stepwell.store.run_query import (
    FINGERPRINT_SQL,
    count_sql,
    created_buckets_sql,
    cursor_sql,
    ended_buckets_sql,
    page_sql,
    steps_ended_sql,
)

Row = tuple[Any, ...]


def _where(*pairs: tuple[str, Any]) -> tuple[str, list[Any]]:
    """A WHERE clause of the conditions whose value is given (each with one ``?``)."""
    given = [(clause, value) for clause, value in pairs if value is not None]
    if not given:
        return "", []
    return "WHERE " + " AND ".join(c for c, _ in given), [v for _, v in given]


_SPANS_OF_RUN = f"SELECT {SPAN_COLUMNS} FROM spans WHERE run_id = ?"
# Ties at the millisecond: the span that ended first (a wait, not ended, last).
_TRACE_ORDER = "ORDER BY started_at, COALESCE(ended_at, 9223372036854775807), attempt, step_hash"
# Where a settled step keeps its span in its steps row (SQLite), a key in both is the row's.
_TRACE_WITH_STEPS = (
    f"SELECT * FROM ({_SPANS_OF_RUN} AND NOT EXISTS (SELECT 1 FROM steps t "
    "WHERE t.run_id = spans.run_id AND t.step_hash = spans.step_hash "
    "AND t.span_attempt = spans.attempt) "
    "UNION ALL SELECT run_id, step_hash, span_attempt, span_name, span_kind, span_status, "
    "span_started_at, span_ended_at, span_queued_ms, span_error, span_detail FROM steps "
    f"WHERE run_id = ? AND span_kind IS NOT NULL) AS trace {_TRACE_ORDER}"
)


_ENDPOINT_COLUMNS = "slug, app_id, url, retries, method, path, saved_at"


class SqlReads:
    """Every read of the Store port, on the ``_fetch`` hook an adapter supplies."""

    dialect: Dialect

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Rows of ``sql`` (already in the dialect's style) with ``params``."""
        raise NotImplementedError

    async def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._fetch(self.dialect.sql(sql), params)

    # -- runs, events, memos (RecordReads) ----------------------------------------------------

    async def get_run(self, run_id: str) -> RunRecord | None:
        rows = await self._query(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,))
        return run_from_row(rows[0]) if rows else None

    async def list_runs(
        self, *, function_id: str | None = None, event_id: str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        where, params = _where(
            ("function_id = ?", function_id),
            ("run_id IN (SELECT run_id FROM run_events WHERE event_id = ?)", event_id),
        )
        rows = await self._query(
            f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY run_id DESC LIMIT ?",
            (*params, limit),
        )
        return [run_from_row(row) for row in rows]

    async def get_events(self, internal_ids: list[str]) -> list[StoredEvent]:
        if not internal_ids:
            return []
        test, params = self.dialect.any_of("internal_id", internal_ids)
        rows = await self._query(f"SELECT {EVENT_COLUMNS} FROM events WHERE {test}", params)
        by_id = {row[0]: event_from_row(row) for row in rows}
        return [by_id[i] for i in internal_ids if i in by_id]

    async def list_events(
        self,
        *,
        name: str | None = None,
        limit: int = 100,
        before_id: str | None = None,
        received_after: int | None = None,
        received_before: int | None = None,
    ) -> list[StoredEvent]:
        where, params = _where(
            ("name = ?", name),
            ("internal_id < ?", before_id),
            ("received_at >= ?", received_after),
            ("received_at < ?", received_before),
        )
        rows = await self._query(
            f"SELECT {EVENT_COLUMNS} FROM events {where} ORDER BY internal_id DESC LIMIT ?",
            (*params, limit),
        )
        return [event_from_row(row) for row in rows]

    async def load_memo(self, run_id: str) -> dict[str, Any]:
        rows = await self._query(
            "SELECT step_hash, value FROM steps WHERE run_id = ? "
            f"ORDER BY {self.dialect.insertion_order}",
            (run_id,),
        )
        return {row[0]: json.loads(row[1]) for row in rows}

    # -- History ------------------------------------------------------------------------------

    async def query_runs(self, query: RunQuery) -> RunPage:
        if query.first < 0:
            raise ValueError(f"first: expected 0 or more, got {query.first}")
        after_key: Any = None
        if query.after is not None:
            sql, params = cursor_sql(self.dialect, query)
            found = await self._query(sql, params)
            if not found:
                raise UnknownCursor(f"{query.after!r} is not a cursor of these runs")
            after_key = found[0][0]
        sql, params = page_sql(self.dialect, query, after_key)
        rows = await self._query(sql, params)
        runs = [run_from_row(row) for row in rows[: query.first]]
        return RunPage(
            runs=runs,
            end_cursor=runs[-1].run_id if runs else None,
            has_more=len(rows) > query.first,
        )

    async def count_runs(self, query: RunQuery) -> int:
        sql, params = count_sql(self.dialect, query)
        rows = await self._query(sql, params)
        return int(rows[0][0])

    async def run_function_ids(self) -> list[str]:
        rows = await self._query("SELECT DISTINCT function_id FROM runs")
        return sorted(str(row[0]) for row in rows)

    async def run_trace(self, run_id: str) -> list[StepSpan]:
        if self.dialect.spans_in_steps:
            rows = await self._query(_TRACE_WITH_STEPS, (run_id, run_id))
        else:
            rows = await self._query(f"{_SPANS_OF_RUN} {_TRACE_ORDER}", (run_id,))
        return [span_from_row(row) for row in rows]

    async def run_jobs(self, run_id: str) -> list[QueueItem]:
        rows = await self._query(
            f"SELECT {ITEM_COLUMNS} FROM queue WHERE run_id = ? ORDER BY due_at, item_id",
            (run_id,),
        )
        return [item_from_row(row) for row in rows]

    async def runs_fingerprint(self) -> str:
        rows = await self._query(FINGERPRINT_SQL)
        return ":".join("" if value is None else str(value) for value in rows[0])

    async def run_activity(self, since: int, until: int, bucket_ms: int) -> list[ActivityBucket]:
        if bucket_ms <= 0 or until <= since:
            raise ValueError("run_activity: expected since < until and a positive bucket")
        count = -(-(until - since) // bucket_ms)
        tallies = [
            dict.fromkeys(("started", "completed", "failed", "cancelled"), 0) for _ in range(count)
        ]
        for index, started in await self._query(*created_buckets_sql(since, until, bucket_ms)):
            tallies[int(index)]["started"] += int(started)
        ended = {RunStatus.COMPLETED.value, RunStatus.FAILED.value, RunStatus.CANCELLED.value}
        for index, status, number in await self._query(*ended_buckets_sql(since, until, bucket_ms)):
            if status in ended:
                tallies[int(index)][RunStatus(status).name.lower()] += int(number)
        return [
            ActivityBucket(start=since + i * bucket_ms, **tally) for i, tally in enumerate(tallies)
        ]

    async def backlog(self, now: int) -> Backlog:
        rows = await self._query(
            "SELECT count(*), min(due_at) FROM queue WHERE due_at <= ? "
            "AND (lease_owner IS NULL OR lease_until < ?)",
            (now, now),
        )
        due, oldest = rows[0]
        return Backlog(due=int(due), oldest_due_at=None if oldest is None else int(oldest))

    async def suspended_runs(self) -> SuspendedRuns:
        rows = await self._query(
            "SELECT (SELECT count(DISTINCT run_id) FROM queue WHERE kind = 'sleep'), "
            "(SELECT count(DISTINCT run_id) FROM pauses WHERE kind <> 'cancel')"
        )
        sleeping, waiting = rows[0]
        return SuspendedRuns(sleeping=int(sleeping or 0), waiting=int(waiting or 0))

    async def steps_ended(self, since: int, runs_since: int) -> int:
        rows = await self._query(*steps_ended_sql(self.dialect, since, runs_since))
        return int(rows[0][0] or 0)

    async def correlated_runs(
        self, correlation_ids: list[str], created_since: int
    ) -> list[RunRecord]:
        if not correlation_ids:
            return []
        test, params = self.dialect.any_of("correlation_id", correlation_ids)
        rows = await self._query(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE created_at >= ? AND {test} "
            "ORDER BY created_at, run_id",
            (created_since, *params),
        )
        return [run_from_row(row) for row in rows]

    # -- the engine's other reads -------------------------------------------------------------

    async def find_pauses(
        self,
        event_name: str,
        correlation_id: str | None = None,
        kind: PauseKind = PauseKind.EVENT,
    ) -> list[Pause]:
        order = self.dialect.insertion_order
        if correlation_id is not None:
            sql = f"SELECT {PAUSE_COLUMNS} FROM pauses WHERE correlation_id = ? ORDER BY {order}"
            params: tuple[Any, ...] = (correlation_id,)
        else:
            sql = (
                f"SELECT {PAUSE_COLUMNS} FROM pauses WHERE event_name = ? AND kind = ? "
                f"ORDER BY {order}"
            )
            params = (event_name, kind.value)
        return [pause_from_row(row) for row in await self._query(sql, params)]

    async def get_item(self, item_id: str) -> QueueItem | None:
        rows = await self._query(f"SELECT {ITEM_COLUMNS} FROM queue WHERE item_id = ?", (item_id,))
        return item_from_row(rows[0]) if rows else None

    async def items_of_kind(self, kind: ItemKind) -> list[QueueItem]:
        rows = await self._query(
            f"SELECT {ITEM_COLUMNS} FROM queue WHERE kind = ? ORDER BY item_id", (kind.value,)
        )
        return [item_from_row(row) for row in rows]

    async def get_states(self, keys: list[str]) -> dict[str, tuple[Any, int]]:
        if not keys:
            return {}
        test, params = self.dialect.any_of("key", keys)
        rows = await self._query(f"SELECT key, value, version FROM flow_state WHERE {test}", params)
        return {row[0]: (json.loads(row[1]), row[2]) for row in rows}

    async def next_due_at(self) -> int | None:
        rows = await self._query("SELECT min(due_at) FROM queue WHERE lease_owner IS NULL")
        return None if not rows or rows[0][0] is None else int(rows[0][0])

    async def list_apps(self) -> list[AppRecord]:
        rows = await self._query(
            "SELECT name, url, checksum, payload, app_uuid, synced_at FROM apps ORDER BY name"
        )
        return [AppRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    async def get_endpoint(self, slug: str) -> EndpointRecord | None:
        rows = await self._query(
            f"SELECT {_ENDPOINT_COLUMNS} FROM endpoints WHERE slug = ?", (slug,)
        )
        return EndpointRecord(*rows[0]) if rows else None

    async def list_endpoints(self) -> list[EndpointRecord]:
        rows = await self._query(f"SELECT {_ENDPOINT_COLUMNS} FROM endpoints ORDER BY slug")
        return [EndpointRecord(*row) for row in rows]
