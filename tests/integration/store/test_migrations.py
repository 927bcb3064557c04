"""Upgrades: a database made by the previous migrations opens with the newest ones.

The database is built the way the previous release left it (every migration before the one
under test, applied by hand), with rows that release could write, then opened as usual.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest

from stepwell.engine.keys import pause_id, pause_timeout_item_id
from stepwell.ports.records import ChangeSet, ItemKind, Pause, PauseKind
from stepwell.ports.store import StoreConflict
from stepwell.store import open_store
from stepwell.store.migrations import load_migrations

NOW = 1_700_000_000_000
HOUR_MS = 3_600_000

Execute = Callable[[str, tuple[Any, ...]], None]


def _previous_sqlite(path: str, before: str) -> Execute:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
        )
        for migration in _until(load_migrations("stepwell.store.sqlite"), before):
            conn.executescript(migration.sql)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?)", (migration.version, migration.name)
            )

    def execute(sql: str, params: tuple[Any, ...]) -> None:
        with closing(sqlite3.connect(path, isolation_level=None)) as conn:
            conn.execute(sql, params)

    return execute


def _previous_postgres(url: str, before: str) -> Execute:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for migration in _until(load_migrations("stepwell.store.postgres"), before):
            conn.execute(migration.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )

    def execute(sql: str, params: tuple[Any, ...]) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.replace("?", "%s").encode(), params)

    return execute


def _until(migrations: list[Any], name: str) -> list[Any]:
    names = [m.name for m in migrations]
    return migrations[: names.index(name)]


def _signal_wait(execute: Execute, run_id: str, signal: str) -> None:
    """A run waiting for ``signal`` as the previous release stored it: pause and timer."""
    pid = pause_id(PauseKind.SIGNAL, run_id, "w")
    execute(
        "INSERT INTO pauses (pause_id, run_id, step_hash, kind, event_name, expires_at, "
        "trigger_event) VALUES (?, ?, 'w', 'signal', ?, ?, '{}')",
        (pid, run_id, signal, NOW + HOUR_MS),
    )
    execute(
        "INSERT INTO queue (item_id, run_id, kind, due_at, step_hash, pause_id) "
        "VALUES (?, ?, 'pause_timeout', ?, 'w', ?)",
        (pause_timeout_item_id(run_id, "w"), run_id, NOW + HOUR_MS, pid),
    )


@pytest.fixture(params=["sqlite", "postgres"])
def url_and_backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "postgres":
        return request.getfixturevalue("pg_url"), "postgres"
    return str(tmp_path / "old.db"), "sqlite"


async def test_signal_waiters_of_the_previous_release_are_kept_one_per_signal(
    url_and_backend: tuple[str, str],
) -> None:
    target, backend = url_and_backend
    if backend == "sqlite":
        execute, url = _previous_sqlite(target, "one_signal_waiter"), f"sqlite:///{target}"
    else:
        execute, url = _previous_postgres(target, "one_signal_waiter"), target
    # The race the new index closes: R1 and R2 both wait for "s" (R1 stored first).
    for run_id, signal in (("R1", "s"), ("R2", "s"), ("R3", "t")):
        _signal_wait(execute, run_id, signal)

    store = open_store(url)
    await store.open()
    try:
        # R1 keeps the signal; R2's wait is out of its way and its timer is due at once.
        assert [p.run_id for p in await store.find_pauses("s", kind=PauseKind.SIGNAL)] == ["R1"]
        assert [p.run_id for p in await store.find_pauses("t", kind=PauseKind.SIGNAL)] == ["R3"]
        [due] = await store.claim_due_items(now_ms=NOW, owner="me", lease_ms=1000, limit=10)
        assert (due.item_id, due.kind, due.pause_id) == (
            pause_timeout_item_id("R2", "w"),
            ItemKind.PAUSE_TIMEOUT,
            pause_id(PauseKind.SIGNAL, "R2", "w"),
        )
        # The timer can still end R2's wait: its pause is there to consume.
        assert due.pause_id is not None
        await store.commit(ChangeSet(pauses_consumed=[due.pause_id], items_removed=[due.item_id]))
        # And from now on the database refuses a second waiter.
        late = Pause(pause_id(PauseKind.SIGNAL, "R4", "w"), "R4", "w", PauseKind.SIGNAL, "s", NOW)
        with pytest.raises(StoreConflict):
            await store.commit(ChangeSet(pauses=[late]))
    finally:
        await store.close()
