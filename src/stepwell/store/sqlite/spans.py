"""Spans in SQLite: a settled step's span rides in the step's own memo row.

Each finished step is one commit on the hot path; keeping the span that settled it (the
attempt whose result or final error is stored) in the ``steps`` row it writes anyway saves a
second B-tree insert and a dirty page per step. Failed attempts and waits not yet over go to
``spans``. A key found in both is the ``steps`` row's: it is written last. Reads merge the two
(``store/reads.py``, ``Dialect.spans_in_steps``); the port's rule holds either way: writing a
span's key again replaces what it shows.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

from stepwell.ports.records import SpanStatus, StepRow, StepSpan
from stepwell.store.rows import SPAN_COLUMNS, dumps, span_params
from stepwell.store.sqlite import set_writes
from stepwell.store.sqlite.multirow import insert_rows

SETTLED = frozenset({SpanStatus.COMPLETED, SpanStatus.FAILED})

# Parameters: the shown values in SPAN_COLUMNS order, then the key.
_UPDATE_STEP_SPAN = (
    "UPDATE steps SET span_name = ?, span_kind = ?, span_status = ?, span_started_at = ?, "
    "span_ended_at = ?, span_queued_ms = ?, span_error = ?, span_detail = ? "
    "WHERE run_id = ? AND step_hash = ? AND span_attempt = ?"
)

# Writing a span's key again replaces the row (a sleep's span: WAITING, then COMPLETED).
_UPSERT_HEAD = f"INSERT INTO spans ({SPAN_COLUMNS})"
_SPAN_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_UPSERT_TAIL = (
    " ON CONFLICT (run_id, step_hash, attempt) DO UPDATE SET name = excluded.name, "
    "kind = excluded.kind, status = excluded.status, started_at = excluded.started_at, "
    "ended_at = excluded.ended_at, queued_ms = excluded.queued_ms, error = excluded.error, "
    "detail = excluded.detail"
)
_UPSERT_SPAN = f"{_UPSERT_HEAD} VALUES {_SPAN_ROW}{_UPSERT_TAIL}"

_NO_SPAN = (None,) * 9


def settling_spans(spans: list[StepSpan]) -> dict[tuple[str, str], StepSpan]:
    """The span that settles each step (by run and step hash): the last settled one."""
    # Compared by identity: hashing an enum member (``in SETTLED``) runs Python code.
    return {
        (s.run_id, s.step_hash): s
        for s in spans
        if s.status is SpanStatus.COMPLETED or s.status is SpanStatus.FAILED
    }


def step_values(step: StepRow, span: StepSpan | None) -> tuple[Any, ...]:
    """A step's row: the memo, with its settling span if there is one."""
    traced = _NO_SPAN if span is None else span_params(span)[2:]
    value = step.encoded if step.encoded is not None else dumps(step.value)
    return (step.run_id, step.step_hash, value, *traced)


def write_spans(cur: sqlite3.Cursor, spans: list[StepSpan]) -> None:
    """Spans not stored with a step in this change set: into the step's row if it holds
    that attempt already, else into ``spans``."""
    rows = [span_params(span) for span in spans]  # run_id, step_hash, attempt, then shown
    keys = {row[:3] for row in rows}
    if len(rows) < set_writes.SET_BASED_FROM or len(keys) < len(rows):
        for row in rows:  # in order: a key written twice ends as its last write
            if cur.execute(_UPDATE_STEP_SPAN, (*row[3:], *row[:3])).rowcount == 0:
                cur.execute(_UPSERT_SPAN, row)
        return
    in_steps = _keys_in_steps(cur, list(keys))
    upserts: list[Any] = []
    for row in rows:
        if row[:3] in in_steps:
            cur.execute(_UPDATE_STEP_SPAN, (*row[3:], *row[:3]))
        else:
            upserts += row
    insert_rows(cur, _UPSERT_HEAD, _SPAN_ROW, upserts, tail=_UPSERT_TAIL)


@functools.cache
def _keys_in_steps_sql(rows: int) -> str:
    # The IN list finds the steps by their index; the triples keep those of that attempt.
    runs = ", ".join(["?"] * rows)
    triples = ", ".join(["(?, ?, ?)"] * rows)
    return (
        "SELECT run_id, step_hash, span_attempt FROM steps WHERE run_id IN "
        f"({runs}) AND (run_id, step_hash, span_attempt) IN (VALUES {triples})"
    )


def _keys_in_steps(cur: sqlite3.Cursor, keys: list[tuple[Any, ...]]) -> set[tuple[Any, ...]]:
    """Which span keys a step's row holds (that step, that attempt)."""
    found: set[tuple[Any, ...]] = set()
    for start, count in set_writes.chunks(len(keys)):
        chunk = keys[start : start + count]
        values: list[Any] = [key[0] for key in chunk]
        for key in chunk:
            values += key
        found.update(tuple(row) for row in cur.execute(_keys_in_steps_sql(count), values))
    return found
