"""The events of a change set as rows of SQLite's events table."""

from __future__ import annotations

import sqlite3

import pytest

from stepwell.ports.records import ChangeSet, StoredEvent
from stepwell.protocol.events import Event
from stepwell.store.sqlite.apply import _insert_events


@pytest.mark.parametrize("count", [1, 3, 100, 128, 129, 300])
def test_every_event_is_one_row_in_order(count: int) -> None:
    # Inserted a power of two of rows per statement: every count is split and kept whole.
    conn = sqlite3.connect(":memory:")
    conn.execute(
        "CREATE TABLE events (internal_id TEXT PRIMARY KEY, name TEXT, user_id TEXT, "
        "ts INTEGER, received_at INTEGER, body TEXT)"
    )
    events = [
        StoredEvent(f"{i:04}", Event(f"e/{i}", {"i": i}, id=f"u{i}", ts=i + 1), 7, f"body{i}")
        for i in range(count)
    ]
    _insert_events(conn.cursor(), ChangeSet(events=events))
    rows = conn.execute("SELECT * FROM events ORDER BY rowid").fetchall()
    assert rows == [(f"{i:04}", f"e/{i}", f"u{i}", i + 1, 7, f"body{i}") for i in range(count)]
