"""A run's status update in SQLite: the values it does not give keep their columns, whichever
of them it gives (each combination has its own statement)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from stepwell.core.runs import RunStatus
from stepwell.ports.records import ChangeSet, NewRun, RunRecord, RunUpdate
from stepwell.ports.store import StoreConflict
from stepwell.store.rows import dumps
from stepwell.store.sqlite.apply import apply_change_set
from stepwell.store.sqlite.store import SqliteStore
from tests.unit.strategies import JSON

_ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    connection = SqliteStore(str(tmp_path / "runs.db"))._connect_writer()
    record = RunRecord("r1", "app", "fn", RunStatus.QUEUED, ["e1"], created_at=1)
    apply_change_set(connection, ChangeSet(runs=[NewRun(record)]))
    yield connection
    connection.close()


def _row(conn: sqlite3.Connection) -> tuple[Any, ...]:
    row: tuple[Any, ...] = conn.execute(
        "SELECT status, output, error, started_at, ended_at FROM runs WHERE run_id = 'r1'"
    ).fetchone()
    return row


def test_a_new_run_has_no_output_or_error(conn: sqlite3.Connection) -> None:
    assert _row(conn) == ("Queued", None, None, None, None)


def test_an_update_sets_what_it_gives_and_keeps_the_rest(conn: sqlite3.Connection) -> None:
    apply_change_set(
        conn, ChangeSet(run_updates=[RunUpdate("r1", RunStatus.RUNNING, _ACTIVE, started_at=5)])
    )
    assert _row(conn) == ("Running", None, None, 5, None)
    # A later start time does not move the first; output given, error and end kept.
    apply_change_set(
        conn,
        ChangeSet(
            run_updates=[RunUpdate("r1", RunStatus.RUNNING, _ACTIVE, output=[1], started_at=9)]
        ),
    )
    assert _row(conn) == ("Running", "[1]", None, 5, None)
    apply_change_set(
        conn,
        ChangeSet(
            run_updates=[
                RunUpdate("r1", RunStatus.FAILED, _ACTIVE, error={"name": "E"}, ended_at=12)
            ]
        ),
    )
    assert _row(conn) == ("Failed", "[1]", '{"name":"E"}', 5, 12)


def test_an_update_of_a_run_in_another_status_conflicts(conn: sqlite3.Connection) -> None:
    apply_change_set(
        conn, ChangeSet(run_updates=[RunUpdate("r1", RunStatus.CANCELLED, _ACTIVE, ended_at=3)])
    )
    with pytest.raises(StoreConflict):
        apply_change_set(conn, ChangeSet(run_updates=[RunUpdate("r1", RunStatus.RUNNING, _ACTIVE)]))
    assert _row(conn) == ("Cancelled", None, None, None, 3)


@given(JSON)
def test_the_store_encodes_json_as_json_dumps_does(value: Any) -> None:
    assert dumps(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
