"""Checked writes of many rows in a few statements: steps, run updates, finished items.

Each of these writes is checked row by row (a step is stored only while its run is active; a
run moves only from the statuses it is expected in; an item is deleted only at the
generation its worker saw). One statement per row costs a GIL round trip each on the writer
thread (see ``multirow``), and a merged batch (``merge``) or a checkpoint of 256 steps has
hundreds of them. Here one statement carries up to 64 rows and the check becomes a count:
every row must have been written, else ``StoreConflict`` (what the row-by-row check would
have raised, for some row; the writer then applies the batch's change sets one by one).
A list that names a row twice is written row by row, in order, as before.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from stepwell.ports.records import ItemDone, RunUpdate
from stepwell.ports.store import StoreConflict
from stepwell.store.rows import dumps
from stepwell.store.sqlite import multirow

ROWS_PER_STATEMENT = 64
"""Rows per statement (at most 12 values each: well under 999 bound values)."""

SET_BASED_FROM = 2
"""Lists of fewer rows are written row by row (one statement either way; the single-row one
is the simpler). Tests raise it to compare the set-based writes with row-by-row ones."""

UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)
"""``UPDATE ... FROM`` came in SQLite 3.33; an older library updates runs row by row."""


def chunks(count: int) -> list[tuple[int, int]]:
    """``(first row, rows)`` of each statement for ``count`` rows (``multirow.chunks``)."""
    return multirow.chunks(count, ROWS_PER_STATEMENT)


def _write_in_chunks(
    cur: sqlite3.Cursor,
    statement: Callable[[int], str],
    rows: Sequence[Sequence[Any]],
    tail: Sequence[Any] = (),
) -> int:
    """Rows written by ``statement(n)`` (n rows' values, then ``tail``) over all of ``rows``."""
    written = 0
    for start, count in chunks(len(rows)):
        values: list[Any] = []
        for row in rows[start : start + count]:
            values += row
        values += tail
        written += cur.execute(statement(count), values).rowcount
    return written


# -- steps -----------------------------------------------------------------------------------

_STEP_COLUMNS = (
    "run_id, step_hash, value, span_attempt, span_name, span_kind, span_status, "
    "span_started_at, span_ended_at, span_queued_ms, span_error, span_detail"
)
_STEP_ROW = "(" + ", ".join(["?"] * 12) + ")"


@functools.cache
def _insert_steps(rows: int) -> str:
    # A step is stored only while its run is active; one stored already is not replaced.
    # (In a VALUES list SQLite names the columns column1, column2, ...)
    return (
        f"INSERT INTO steps ({_STEP_COLUMNS}) "
        f"SELECT * FROM (VALUES {', '.join([_STEP_ROW] * rows)}) "
        "WHERE EXISTS (SELECT 1 FROM runs WHERE run_id = column1 AND status IN (?, ?)) "
        "ON CONFLICT (run_id, step_hash) DO NOTHING"
    )


def insert_steps(cur: sqlite3.Cursor, rows: list[tuple[Any, ...]], active: tuple[str, str]) -> None:
    """Steps' rows (``spans.step_values``), each stored, else ``StoreConflict``."""
    if len(rows) < SET_BASED_FROM:
        for row in rows:
            if cur.execute(_insert_steps(1), (*row, *active)).rowcount == 0:
                raise StoreConflict(f"step {row[1]} of run {row[0]} not stored")
        return
    written = _write_in_chunks(cur, _insert_steps, rows, active)
    if written != len(rows):
        runs = sorted({row[0] for row in rows})
        raise StoreConflict(f"{len(rows) - written} of {len(rows)} steps of runs {runs} not stored")


# -- run updates -----------------------------------------------------------------------------


@functools.cache
def _update_runs(shape: tuple[int, bool, bool, bool, bool], rows: int) -> str:
    """The status update of ``rows`` runs of one shape (``RunUpdate``'s values given:
    expected statuses, output, error, started_at, ended_at), from a VALUES list whose
    columns are: status, the values given, the run's id."""
    expected, output, error, started, ended = shape
    sets, column = ["status = v.column1"], 2
    for given, assignment in (
        (output, "output = v.column{}"),
        (error, "error = v.column{}"),
        (started, "started_at = COALESCE(runs.started_at, v.column{})"),
        (ended, "ended_at = v.column{}"),
    ):
        if given:
            sets.append(assignment.format(column))
            column += 1
    row = "(" + ", ".join(["?"] * column) + ")"
    marks = ", ".join(["?"] * expected)
    return (
        f"UPDATE runs SET {', '.join(sets)} FROM (VALUES {', '.join([row] * rows)}) AS v "
        f"WHERE runs.run_id = v.column{column} AND runs.status IN ({marks})"
    )


@functools.cache
def _update_run_sql(expected: int, output: bool, error: bool, started: bool, ended: bool) -> str:
    """A run's status update for ``expected`` statuses it may be in, built once for each
    set of values given. A value not given keeps its column, as ``COALESCE`` with a NULL
    would; leaving it out of the SQL spares binding a None (an adapter lookup each)."""
    sets = ["status = ?"]
    if output:
        sets.append("output = ?")
    if error:
        sets.append("error = ?")
    if started:
        sets.append("started_at = COALESCE(started_at, ?)")
    if ended:
        sets.append("ended_at = ?")
    marks = ",".join("?" * expected)
    return f"UPDATE runs SET {', '.join(sets)} WHERE run_id = ? AND status IN ({marks})"


def _update_values(update: RunUpdate) -> tuple[tuple[Any, ...], list[Any]]:
    """The update's shape (expected statuses, then which values it gives) and its values:
    the status, the values given, the run's id."""
    values: list[Any] = [update.status._value_]
    if update.output is not None:
        values.append(dumps(update.output))
    if update.error is not None:
        values.append(dumps(update.error))
    if update.started_at is not None:
        values.append(update.started_at)
    if update.ended_at is not None:
        values.append(update.ended_at)
    values.append(update.run_id)
    shape = (
        tuple(s._value_ for s in update.expect),
        update.output is not None,
        update.error is not None,
        update.started_at is not None,
        update.ended_at is not None,
    )
    return shape, values


def update_runs(cur: sqlite3.Cursor, updates: list[RunUpdate]) -> None:
    """Run updates, each applied, else ``StoreConflict``; one by one when there are few, a
    run is named twice, or SQLite is too old."""
    few = len(updates) < SET_BASED_FROM
    if few or not UPDATE_FROM or len({u.run_id for u in updates}) < len(updates):
        for update in updates:
            (expect, *given), values = _update_values(update)
            sql = _update_run_sql(len(expect), *given)
            if cur.execute(sql, [*values, *expect]).rowcount == 0:
                raise StoreConflict(f"run {update.run_id} is not in {list(expect)}")
        return
    shapes: dict[tuple[Any, ...], list[list[Any]]] = {}
    for update in updates:
        shape, values = _update_values(update)
        shapes.setdefault(shape, []).append(values)
    for (expect, *given), rows in shapes.items():
        shape = (len(expect), *given)
        written = _write_in_chunks(cur, functools.partial(_update_runs, shape), rows, expect)
        if written != len(rows):
            runs = sorted(row[-1] for row in rows)
            raise StoreConflict(f"{len(rows) - written} of runs {runs} are not in {list(expect)}")


# -- finished items --------------------------------------------------------------------------


@functools.cache
def _delete_items(rows: int) -> str:
    # The IN list finds the rows by key; the pairs keep those still at the generation seen.
    keys = ", ".join(["?"] * rows)
    pairs = ", ".join(["(?, ?)"] * rows)
    return (
        f"DELETE FROM queue WHERE item_id IN ({keys}) AND (item_id, generation) IN (VALUES {pairs})"
    )


@functools.cache
def _present_items(rows: int) -> str:
    return f"SELECT item_id FROM queue WHERE item_id IN ({', '.join(['?'] * rows)})"


def delete_done_items(cur: sqlite3.Cursor, done: list[ItemDone]) -> set[str]:
    """Finished items deleted where still at the generation seen; the ids of those that were
    not deleted because something re-armed them meanwhile (they are still there)."""
    if len(done) < SET_BASED_FROM or len({d.item_id for d in done}) < len(done):
        rearmed: set[str] = set()
        for item in done:
            deleted = cur.execute(
                "DELETE FROM queue WHERE item_id = ? AND generation = ?",
                (item.item_id, item.generation),
            ).rowcount
            if (
                deleted == 0
                and cur.execute("SELECT 1 FROM queue WHERE item_id = ?", (item.item_id,)).fetchone()
            ):
                rearmed.add(item.item_id)
        return rearmed
    deleted = 0
    for start, count in chunks(len(done)):
        chunk = done[start : start + count]
        values: list[Any] = [d.item_id for d in chunk]
        for d in chunk:
            values += (d.item_id, d.generation)
        deleted += cur.execute(_delete_items(count), values).rowcount
    if deleted == len(done):
        return set()
    # Some were not deleted: those still there were re-armed (the others were gone already).
    present: set[str] = set()
    for start, count in chunks(len(done)):
        ids = [d.item_id for d in done[start : start + count]]
        present.update(row[0] for row in cur.execute(_present_items(count), ids))
    return present
