"""SQL for ``History.query_runs`` and ``count_runs``: filters, a time window, keyset paging.

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
