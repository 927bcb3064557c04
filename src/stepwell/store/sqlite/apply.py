"""The one transaction of a change set, in SQLite: the semantics every store keeps (see
``Store.commit``), applied in order, raising ``StoreConflict`` to roll it all back."""

from __future__ import annotations

import sqlite3
from typing import Any

from stepwell.core.runs import RunStatus
from stepwell.ports.records import (
    ChangeSet,
    CommitResult,
    ItemPut,
    NewRun,
    Pause,
    PauseKind,
    QueueItem,
    StatePut,
)
from stepwell.ports.store import StoreConflict
from stepwell.store.rows import ITEM_COLUMNS, PAUSE_COLUMNS, RUN_COLUMNS, dumps
from stepwell.store.sqlite import spans


def _item_params(item: QueueItem) -> tuple[Any, ...]:
    """An item's values in ``ITEM_COLUMNS`` order, without ``generation``."""
    return (
        item.item_id,
        item.run_id,
        item.kind.value,
        item.due_at,
        item.attempt,
        item.step_hash,
        item.pause_id,
        item.lease_owner,
        item.lease_until,
        None if item.payload is None else dumps(item.payload),
    )


def _signal_waiter_check(conn: sqlite3.Connection, pause: Pause) -> None:
    """A signal pause that was not inserted: the same wait stored before is fine, but another
    run holding the signal (the unique index) is a lost race, not a wait to drop."""
    if conn.execute("SELECT 1 FROM pauses WHERE pause_id = ?", (pause.pause_id,)).fetchone():
        return
    raise StoreConflict(f"signal {pause.event_name!r} already has a waiter")


def _put_state(conn: sqlite3.Connection, state: StatePut) -> None:
    if state.expect_version is None:
        changed = conn.execute(
            "INSERT OR IGNORE INTO flow_state (key, value, version) VALUES (?, ?, 0)",
            (state.key, dumps(state.value)),
        ).rowcount
    else:
        changed = conn.execute(
            "UPDATE flow_state SET value = ?, version = version + 1 WHERE key = ? AND version = ?",
            (dumps(state.value), state.key, state.expect_version),
        ).rowcount
    if changed == 0:
        raise StoreConflict(f"flow state {state.key} changed meanwhile")


def _put_item(conn: sqlite3.Connection, put: ItemPut) -> None:
    """Compare-and-set on an item's generation (see ``ItemPut``)."""
    item = put.item
    if put.expect_generation is None:
        if put.delete:
            return
        inserted = conn.execute(
            f"INSERT OR IGNORE INTO queue ({ITEM_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
            _item_params(item),
        ).rowcount
        if inserted == 0:
            raise StoreConflict(f"item {item.item_id} was created meanwhile")
        return
    if put.delete:
        changed = conn.execute(
            "DELETE FROM queue WHERE item_id = ? AND generation = ?",
            (item.item_id, put.expect_generation),
        ).rowcount
    else:
        changed = conn.execute(
            "UPDATE queue SET due_at = ?, payload = ?, lease_owner = ?, lease_until = ?, "
            "generation = generation + 1 WHERE item_id = ? AND generation = ?",
            (
                item.due_at,
                None if item.payload is None else dumps(item.payload),
                item.lease_owner,
                item.lease_until,
                item.item_id,
                put.expect_generation,
            ),
        ).rowcount
    if changed == 0:
        raise StoreConflict(f"item {item.item_id} changed meanwhile")


def _insert_pauses(conn: sqlite3.Connection, pauses: list[Pause]) -> None:
    """Pauses, set-based; a signal's is checked alone (another run may hold the signal)."""
    sql = f"INSERT OR IGNORE INTO pauses ({PAUSE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    rows = []
    for pause in pauses:
        params = (
            pause.pause_id,
            pause.run_id,
            pause.step_hash,
            pause.kind.value,
            pause.event_name,
            pause.expires_at,
            pause.expression,
            pause.correlation_id,
            dumps(pause.trigger_event),
        )
        if pause.kind is not PauseKind.SIGNAL:
            rows.append(params)
        elif conn.execute(sql, params).rowcount == 0:
            _signal_waiter_check(conn, pause)
    conn.executemany(sql, rows)


# -- the one transaction of a change set ----------------------------------------------------------

_ACTIVE = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


_MAX_EVENT_ROWS = 128
"""Rows per INSERT of events: 768 parameters, under the oldest SQLite limit (999)."""
_INSERT_EVENTS = {
    rows: "INSERT INTO events (internal_id, name, user_id, ts, received_at, body) VALUES "
    + ", ".join(["(?, ?, ?, ?, ?, ?)"] * rows)
    for rows in (1 << power for power in range(_MAX_EVENT_ROWS.bit_length()))
}


def _insert_events(conn: sqlite3.Connection, changes: ChangeSet) -> None:
    # One statement per power of two of rows (100 events: 64, 32 and 4), so few statements
    # to prepare and cache, rather than executemany's step per row: every step releases the
    # GIL, and taking it back from a busy event loop's thread can take a switch interval.
    values: list[Any] = []
    for stored in changes.events:
        event = stored.event
        values += (
            stored.internal_id,
            event.name,
            event.id,
            event.ts,
            stored.received_at,
            stored.body_json(),
        )
    left, at = len(changes.events), 0
    while left:
        rows = min(_MAX_EVENT_ROWS, 1 << (left.bit_length() - 1))
        conn.execute(_INSERT_EVENTS[rows], values[at : at + 6 * rows])
        left, at = left - rows, at + 6 * rows


def _held_keys(conn: sqlite3.Connection, runs: list[NewRun]) -> set[str]:
    """Which of the runs' idempotency keys are held: stored and unexpired for the run
    asking, or asked for by an earlier run of the same change set. One read per 500 keys."""
    keys = list({new.idempotency_key for new in runs if new.idempotency_key is not None})
    stored: dict[str, int] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        stored.update(
            conn.execute(
                f"SELECT key, expires_at FROM idempotency WHERE key IN ({marks})", chunk
            ).fetchall()
        )
    held: set[str] = set()
    for new in runs:
        key = new.idempotency_key
        if key is None:
            continue
        expires = stored.get(key)
        if expires is not None and expires > new.record.created_at:
            held.add(new.record.run_id)  # this run is skipped
        else:
            stored[key] = new.idempotency_expires_at  # taken: a later repeat is skipped
    return held


def _insert_runs(conn: sqlite3.Connection, changes: ChangeSet, result: CommitResult) -> None:
    """The new runs, set-based: one read for their idempotency keys, one insert per table."""
    skipped = _held_keys(conn, changes.runs)
    result.skipped_runs |= skipped
    created = [new for new in changes.runs if new.record.run_id not in skipped]
    conn.executemany(
        "INSERT INTO idempotency (key, run_id, expires_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, "
        "expires_at = excluded.expires_at",
        [
            (new.idempotency_key, new.record.run_id, new.idempotency_expires_at)
            for new in created
            if new.idempotency_key is not None
        ],
    )
    conn.executemany(
        f"INSERT INTO runs ({RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                run.run_id,
                run.app_id,
                run.function_id,
                run.status.value,
                run.created_at,
                run.started_at,
                run.ended_at,
                None,
                None,
                run.correlation_id,
                dumps(run.event_ids),
                dumps(run.concurrency_keys) if run.concurrency_keys else None,
            )
            for run in (new.record for new in created)
        ],
    )
    conn.executemany(
        "INSERT OR IGNORE INTO run_events (event_id, run_id) VALUES (?, ?)",
        [(event_id, new.record.run_id) for new in created for event_id in new.record.event_ids],
    )


_CHUNK = 500
"""Keys per ``IN (...)`` list: well under SQLite's limit on bound parameters."""


def apply_change_set(conn: sqlite3.Connection, changes: ChangeSet) -> CommitResult:
    result = CommitResult()
    if changes.events:
        _insert_events(conn, changes)
    if changes.runs:
        _insert_runs(conn, changes, result)
    for update in changes.run_updates:
        marks = ",".join("?" * len(update.expect))
        changed = conn.execute(
            f"UPDATE runs SET status = ?, output = COALESCE(?, output), "
            f"error = COALESCE(?, error), started_at = COALESCE(started_at, ?), "
            f"ended_at = COALESCE(?, ended_at) WHERE run_id = ? AND status IN ({marks})",
            (
                update.status.value,
                None if update.output is None else dumps(update.output),
                None if update.error is None else dumps(update.error),
                update.started_at,
                update.ended_at,
                update.run_id,
                *[s.value for s in update.expect],
            ),
        ).rowcount
        if changed == 0:
            raise StoreConflict(f"run {update.run_id} is not in {[s.value for s in update.expect]}")
    settling = spans.settling_spans(changes.spans) if changes.spans else {}
    in_steps: set[int] = set()
    for step in changes.steps:
        span = settling.get((step.run_id, step.step_hash)) if settling else None
        if span is not None:
            in_steps.add(id(span))
        stored_rows = conn.execute(
            spans.INSERT_STEP, spans.step_params(step, span, _ACTIVE)
        ).rowcount
        if stored_rows == 0:
            raise StoreConflict(f"step {step.step_hash} of run {step.run_id} not stored")
    for pause_id in changes.pauses_consumed:
        if conn.execute("DELETE FROM pauses WHERE pause_id = ?", (pause_id,)).rowcount == 0:
            raise StoreConflict(f"pause {pause_id} was already consumed")
    if changes.pauses:
        _insert_pauses(conn, changes.pauses)
    for state in changes.states:
        _put_state(conn, state)
    for item_id in changes.items_removed:
        conn.execute("DELETE FROM queue WHERE item_id = ?", (item_id,))
    for put in changes.items_put:
        _put_item(conn, put)
    for run_id in changes.ended_runs:
        conn.execute("DELETE FROM queue WHERE run_id = ?", (run_id,))
        conn.execute("DELETE FROM pauses WHERE run_id = ?", (run_id,))
    for done in changes.items_done:
        deleted = conn.execute(
            "DELETE FROM queue WHERE item_id = ? AND generation = ?",
            (done.item_id, done.generation),
        ).rowcount
        if (
            deleted == 0
            and conn.execute("SELECT 1 FROM queue WHERE item_id = ?", (done.item_id,)).fetchone()
        ):
            result.rearmed_items.add(done.item_id)
    for item in changes.items_rescheduled:
        conn.execute(
            "UPDATE queue SET due_at = ?, attempt = ?, lease_owner = ?, lease_until = ?, "
            "payload = ?, generation = generation + 1 WHERE item_id = ?",
            (
                item.due_at,
                item.attempt,
                item.lease_owner,
                item.lease_until,
                None if item.payload is None else dumps(item.payload),
                item.item_id,
            ),
        )
    if changes.items:
        skipped = result.skipped_runs
        conn.executemany(
            f"INSERT INTO queue ({ITEM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?) "
            "ON CONFLICT (item_id) DO UPDATE SET due_at = MIN(queue.due_at, excluded.due_at), "
            "generation = queue.generation + 1",
            [_item_params(item) for item in changes.items if item.run_id not in skipped],
        )
    if changes.spans:
        # The rest in the change set's order: a key written twice ends as its last write.
        spans.write_spans(conn, [s for s in changes.spans if id(s) not in in_steps])
    return result
