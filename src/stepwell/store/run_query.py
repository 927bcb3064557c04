"""SQL for ``History.query_runs`` and ``count_runs``: filters, a time window, keyset paging;
and the overview's counts (``run_activity``, ``runs_fingerprint``), all on indexes of runs.

Pages are found by keyset on (order key, run_id), never by OFFSET, so a page costs the same
however deep it is and runs added meanwhile neither repeat nor hide others. The cursor is
the run id of the page's last run; its order key is read back from the table, so a cursor
stays a plain id (what GraphQL hands out as ``endCursor``).
"""

from __future__ import annotations

from typing import Any

from stepwell.ports.history import RunQuery, RunTime
from stepwell.store.dialect import Dialect
from stepwell.store.rows import RUN_COLUMNS


def order_key(query: RunQuery) -> str:
    """The expression runs are ordered by: the bare column where it cannot be NULL (so an
    index on it serves the order), else unset times as 0."""
    column = query.order_by.value
    windowed = query.since is not None or query.until is not None
    if query.order_by is RunTime.QUEUED or (query.order_by is query.time_field and windowed):
        return column
    return f"COALESCE({column}, 0)"


def _filters(dialect: Dialect, query: RunQuery) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    column = query.time_field.value
    if query.since is not None:
        clauses.append(f"{column} >= ?")
        params.append(query.since)
    if query.until is not None:
        clauses.append(f"{column} < ?")
        params.append(query.until)
    statuses = None if query.statuses is None else [s.value for s in query.statuses]
    for name, values in (
        ("function_id", query.function_ids),
        ("app_id", query.app_ids),
        ("status", statuses),
    ):
        if values is not None:
            test, more = dialect.any_of(name, list(values))
            clauses.append(test)
            params.extend(more)
    return clauses, params


def _where(clauses: list[str]) -> str:
    return f"WHERE {' AND '.join(clauses)}" if clauses else ""


def count_sql(dialect: Dialect, query: RunQuery) -> tuple[str, list[Any]]:
    clauses, params = _filters(dialect, query)
    return f"SELECT count(*) FROM runs {_where(clauses)}", params


def cursor_sql(dialect: Dialect, query: RunQuery) -> tuple[str, list[Any]]:
    """The order key of the cursor's run, if it is one the query matches."""
    clauses, params = _filters(dialect, query)
    clauses.append("run_id = ?")
    return f"SELECT {order_key(query)} FROM runs {_where(clauses)}", [*params, query.after]


def page_sql(dialect: Dialect, query: RunQuery, after_key: Any) -> tuple[str, list[Any]]:
    """One row more than the page, to tell whether more follow."""
    clauses, params = _filters(dialect, query)
    key = order_key(query)
    direction, beyond = ("DESC", "<") if query.descending else ("ASC", ">")
    if query.after is not None:
        clauses.append(f"({key}, run_id) {beyond} (?, ?)")
        params.extend([after_key, query.after])
    sql = (
        f"SELECT {RUN_COLUMNS} FROM runs {_where(clauses)} "
        f"ORDER BY {key} {direction}, run_id {direction} LIMIT ?"
    )
    return sql, [*params, query.first + 1]


# Each part is an index lookup (the primary key, runs_started, runs_ended): a run created,
# started or ended moves one of them, even when two share a millisecond (the counts).
FINGERPRINT_SQL = (
    "SELECT m.r, m.s, m.e, (SELECT count(*) FROM runs WHERE started_at = m.s), "
    "(SELECT count(*) FROM runs WHERE ended_at = m.e) FROM (SELECT "
    "(SELECT max(run_id) FROM runs) AS r, "
    "(SELECT max(started_at) FROM runs WHERE started_at IS NOT NULL) AS s, "
    "(SELECT max(ended_at) FROM runs WHERE ended_at IS NOT NULL) AS e) AS m"
)


def created_buckets_sql(since: int, until: int, bucket_ms: int) -> tuple[str, list[Any]]:
    return (
        "SELECT (created_at - ?) / ?, count(*) FROM runs "
        "WHERE created_at >= ? AND created_at < ? GROUP BY 1",
        [since, bucket_ms, since, until],
    )


def ended_buckets_sql(since: int, until: int, bucket_ms: int) -> tuple[str, list[Any]]:
    return (
        "SELECT (ended_at - ?) / ?, status, count(*) FROM runs "
        "WHERE ended_at >= ? AND ended_at < ? GROUP BY 1, 2",
        [since, bucket_ms, since, until],
    )


def steps_ended_sql(dialect: Dialect, since: int, runs_since: int) -> tuple[str, list[Any]]:
    """Spans ended since ``since`` of recent runs only: spans have no index on their end, so
    the runs (found on their indexes) bound the scan."""
    recent = (
        "SELECT run_id FROM runs WHERE created_at >= ? "
        "UNION SELECT run_id FROM runs WHERE ended_at >= ?"
    )
    spans = f"SELECT count(*) FROM spans WHERE ended_at >= ? AND run_id IN ({recent})"
    if not dialect.spans_in_steps:
        return spans, [since, runs_since, since]
    # A key in both tables is the steps row's (store/sqlite/spans.py): count it once.
    sql = (
        f"SELECT ({spans} AND NOT EXISTS (SELECT 1 FROM steps t WHERE t.run_id = spans.run_id "
        "AND t.step_hash = spans.step_hash AND t.span_attempt = spans.attempt)) + "
        f"(SELECT count(*) FROM steps WHERE span_ended_at >= ? AND run_id IN ({recent}))"
    )
    return sql, [since, runs_since, since, since, runs_since, since]
