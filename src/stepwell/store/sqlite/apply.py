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
from stepwell.store.rows import ITEM_COLUMNS, PAUSE_COLUMNS, RUN_COLUMNS, dumps, dumps_engine
from stepwell.store.sqlite import set_writes, spans
from stepwell.store.sqlite.multirow import insert_rows


def _item_params(item: QueueItem) -> tuple[Any, ...]:
    """An item's values in ``ITEM_COLUMNS`` order, without ``generation``."""
    return (
        item.item_id,
        item.run_id,
        item.kind._value_,  # not ``.value``: a Python-level property on enums
        item.due_at,
        item.attempt,
        item.step_hash,
        item.pause_id,
        item.lease_owner,
        item.lease_until,
        None if item.payload is None else dumps_engine(item.payload),
    )


def _signal_waiter_check(cur: sqlite3.Cursor, pause: Pause) -> None:
    """A signal pause that was not inserted: the same wait stored before is fine, but another
    run holding the signal (the unique index) is a lost race, not a wait to drop."""
    if cur.execute("SELECT 1 FROM pauses WHERE pause_id = ?", (pause.pause_id,)).fetchone():
        return
    raise StoreConflict(f"signal {pause.event_name!r} already has a waiter")


def _put_state(cur: sqlite3.Cursor, state: StatePut) -> None:
    if state.expect_version is None:
        changed = cur.execute(
            "INSERT OR IGNORE INTO flow_state (key, value, version) VALUES (?, ?, 0)",
            (state.key, dumps(state.value)),
        ).rowcount
    else:
        changed = cur.execute(
            "UPDATE flow_state SET value = ?, version = version + 1 WHERE key = ? AND version = ?",
            (dumps(state.value), state.key, state.expect_version),
        ).rowcount
    if changed == 0:
        raise StoreConflict(f"flow state {state.key} changed meanwhile")


def _put_item(cur: sqlite3.Cursor, put: ItemPut) -> None:
    """Compare-and-set on an item's generation (see ``ItemPut``)."""
    item = put.item
    if put.expect_generation is None:
        if put.delete:
            return
        inserted = cur.execute(
            f"INSERT OR IGNORE INTO queue ({ITEM_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
            _item_params(item),
        ).rowcount
        if inserted == 0:
            raise StoreConflict(f"item {item.item_id} was created meanwhile")
        return
    if put.delete:
        changed = cur.execute(
            "DELETE FROM queue WHERE item_id = ? AND generation = ?",
            (item.item_id, put.expect_generation),
        ).rowcount
    else:
        changed = cur.execute(
            "UPDATE queue SET due_at = ?, payload = ?, lease_owner = ?, lease_until = ?, "
            "generation = generation + 1 WHERE item_id = ? AND generation = ?",
            (
                item.due_at,
                None if item.payload is None else dumps_engine(item.payload),
                item.lease_owner,
                item.lease_until,
                item.item_id,
                put.expect_generation,
            ),
        ).rowcount
    if changed == 0:
        raise StoreConflict(f"item {item.item_id} changed meanwhile")


def _insert_pauses(cur: sqlite3.Cursor, pauses: list[Pause]) -> None:
    """Pauses, set-based; a signal's is checked alone (another run may hold the signal)."""
    sql = f"INSERT OR IGNORE INTO pauses ({PAUSE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    rows = []
    for pause in pauses:
        params = (
            pause.pause_id,
            pause.run_id,
            pause.step_hash,
            pause.kind._value_,
            pause.event_name,
            pause.expires_at,
            pause.expression,
            pause.correlation_id,
            dumps(pause.trigger_event),
        )
        if pause.kind is not PauseKind.SIGNAL:
            rows.append(params)
        elif cur.execute(sql, params).rowcount == 0:
            _signal_waiter_check(cur, pause)
    cur.executemany(sql, rows)


# -- the one transaction of a change set ----------------------------------------------------------

_ACTIVE = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


def _insert_events(cur: sqlite3.Cursor, changes: ChangeSet) -> None:
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
    insert_rows(
        cur,
        "INSERT INTO events (internal_id, name, user_id, ts, received_at, body)",
        "(?, ?, ?, ?, ?, ?)",
        values,
    )


def _held_keys(cur: sqlite3.Cursor, runs: list[NewRun]) -> set[str]:
    """Which of the runs' idempotency keys are held: stored and unexpired for the run
    asking, or asked for by an earlier, other run of the same change set (a run named twice
    does not hold its own key: its second insert then fails, as two change sets would, so
    a merged apply, ``store.sqlite.merge``, gives what they would). One read per 500 keys."""
    keys = list({new.idempotency_key for new in runs if new.idempotency_key is not None})
    stored: dict[str, int] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        stored.update(
            cur.execute(
                f"SELECT key, expires_at FROM idempotency WHERE key IN ({marks})", chunk
            ).fetchall()
        )
    held: set[str] = set()
    takers: dict[str, str] = {}  # key -> the run of this change set that took it
    for new in runs:
        key = new.idempotency_key
        if key is None:
            continue
        run_id = new.record.run_id
        expires = stored.get(key)
        if expires is not None and expires > new.record.created_at and takers.get(key) != run_id:
            held.add(run_id)  # this run is skipped
        else:
            stored[key] = new.idempotency_expires_at  # taken: a later repeat is skipped
            takers[key] = run_id
    return held


def _insert_runs(cur: sqlite3.Cursor, changes: ChangeSet, result: CommitResult) -> None:
    """The new runs, set-based: one read for their idempotency keys, one insert per table."""
    skipped = _held_keys(cur, changes.runs)
    result.skipped_runs |= skipped
    created = [new for new in changes.runs if new.record.run_id not in skipped]
    cur.executemany(
        "INSERT INTO idempotency (key, run_id, expires_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET run_id = excluded.run_id, "
        "expires_at = excluded.expires_at",
        [
            (new.idempotency_key, new.record.run_id, new.idempotency_expires_at)
            for new in created
            if new.idempotency_key is not None
        ],
    )
    values: list[Any] = []
    links: list[Any] = []
    for new in created:
        run = new.record
        values += (
            run.run_id,
            run.app_id,
            run.function_id,
            run.status._value_,
            run.created_at,
            run.started_at,
            run.ended_at,
            run.correlation_id,
            dumps_engine(run.event_ids),
            dumps_engine(run.concurrency_keys) if run.concurrency_keys else None,
        )
        for event_id in run.event_ids:
            links += (event_id, run.run_id)
    # A new run has no output or error yet: NULL in the SQL, not bound.
    insert_rows(
        cur,
        f"INSERT INTO runs ({RUN_COLUMNS})",
        "(?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?)",
        values,
    )
    insert_rows(cur, "INSERT OR IGNORE INTO run_events (event_id, run_id)", "(?, ?)", links)


_CHUNK = 500
"""Keys per ``IN (...)`` list: well under SQLite's limit on bound parameters."""


def apply_change_set(conn: sqlite3.Connection, changes: ChangeSet) -> CommitResult:
    # One cursor for every statement: ``Connection.execute`` makes a new one each time.
    cur = conn.cursor()
    result = CommitResult()
    if changes.events:
        _insert_events(cur, changes)
    if changes.runs:
        _insert_runs(cur, changes, result)
    if changes.run_updates:
        set_writes.update_runs(cur, changes.run_updates)
    settling = spans.settling_spans(changes.spans) if changes.spans else {}
    in_steps: set[int] = set()
    if changes.steps:
        rows = []
        for step in changes.steps:
            span = settling.get((step.run_id, step.step_hash)) if settling else None
            if span is not None:
                in_steps.add(id(span))
            rows.append(spans.step_values(step, span))
        set_writes.insert_steps(cur, rows, _ACTIVE)
    for pause_id in changes.pauses_consumed:
        if cur.execute("DELETE FROM pauses WHERE pause_id = ?", (pause_id,)).rowcount == 0:
            raise StoreConflict(f"pause {pause_id} was already consumed")
    if changes.pauses:
        _insert_pauses(cur, changes.pauses)
    for state in changes.states:
        _put_state(cur, state)
    for item_id in changes.items_removed:
        cur.execute("DELETE FROM queue WHERE item_id = ?", (item_id,))
    for put in changes.items_put:
        _put_item(cur, put)
    for run_id in changes.ended_runs:
        cur.execute("DELETE FROM queue WHERE run_id = ?", (run_id,))
        cur.execute("DELETE FROM pauses WHERE run_id = ?", (run_id,))
    if changes.items_done:
        result.rearmed_items |= set_writes.delete_done_items(cur, changes.items_done)
    for item in changes.items_rescheduled:
        cur.execute(
            "UPDATE queue SET due_at = ?, attempt = ?, lease_owner = ?, lease_until = ?, "
            "payload = ?, generation = generation + 1 WHERE item_id = ?",
            (
                item.due_at,
                item.attempt,
                item.lease_owner,
                item.lease_until,
                None if item.payload is None else dumps_engine(item.payload),
                item.item_id,
            ),
        )
    if changes.items:
        skipped = result.skipped_runs
        values: list[Any] = []
        for item in changes.items:
            if item.run_id not in skipped:
                values += _item_params(item)
        insert_rows(
            cur,
            f"INSERT INTO queue ({ITEM_COLUMNS})",
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
            values,
            tail=" ON CONFLICT (item_id) DO UPDATE SET "
            "due_at = MIN(queue.due_at, excluded.due_at), generation = queue.generation + 1",
        )
    if changes.spans:
        # The rest in the change set's order: a key written twice ends as its last write.
        spans.write_spans(cur, [s for s in changes.spans if id(s) not in in_steps])
    return result
