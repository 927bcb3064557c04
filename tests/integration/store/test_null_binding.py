"""The SQLite store binds None through a registered adapter (cheaper than sqlite3's
protocol lookups), so None still lands as NULL; an adapter the process set is kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from stepwell.store.sqlite.store import SqliteStore, _bind_none_cheaply

KEY = (type(None), sqlite3.PrepareProtocol)


async def test_none_is_stored_as_null(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "db.sqlite"))
    await store.open()
    try:
        assert KEY in sqlite3.adapters
        with sqlite3.connect(tmp_path / "other.sqlite") as conn:
            conn.execute("CREATE TABLE t (a)")
            conn.execute("INSERT INTO t VALUES (?)", (None,))
            assert conn.execute("SELECT a IS NULL, typeof(a) FROM t").fetchone() == (1, "null")
    finally:
        await store.close()


def test_an_adapter_the_process_registered_is_left_alone() -> None:
    previous = sqlite3.adapters.get(KEY)

    def own(value: None) -> str:
        return "none"

    sqlite3.register_adapter(type(None), own)
    try:
        _bind_none_cheaply()
        assert sqlite3.adapters[KEY] is own
    finally:
        if previous is None:
            del sqlite3.adapters[KEY]
        else:
            sqlite3.adapters[KEY] = previous
