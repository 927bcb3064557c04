"""Reading a SQLite file that another process owns: the read port without the owner's lock.

A ``SqliteStore`` takes an exclusive lock beside its file, so a second store cannot open a file
an embedded engine is using. ``stepwell ui`` only reads: it opens the file with a
``file:…?mode=ro`` URI (SQLite refuses every write on that connection, and WAL lets it read
while the owner writes) and serves the same shared read SQL (``store/reads.py``) as the
stores do. It never migrates, takes no lock and releases no leases.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from stepwell.ports.records import AppRecord, EndpointRecord
from stepwell.store.dialect import SQLITE
from stepwell.store.reads import Row, SqlReads


def is_locked(path: str) -> bool:
    """Whether a Stepwell process holds the file's lock right now (without taking it)."""
    lock = f"{path}.lock"
    if not Path(lock).exists():
        return False
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class ReadOnlySqliteHistory(SqlReads):
    """``History`` and the apps' reads over a SQLite file opened read-only (an ``AppStore``
    whose writes are refused: the dashboard offers none when it is read-only)."""

    dialect = SQLITE

    def __init__(self, path: str) -> None:
        self._path = path
        self._uri = f"file:{quote(str(Path(path).resolve()))}?mode=ro"
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> None:
        # mode=ro: SQLite refuses to create a missing file and every write.
        try:
            conn = sqlite3.connect(
                self._uri, uri=True, isolation_level=None, check_same_thread=False
            )
        except sqlite3.OperationalError as exc:
            raise ValueError(f"cannot open {self._path} read-only ({exc})") from None
        conn.execute("PRAGMA busy_timeout = 5000")
        try:
            conn.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise ValueError(f"{self._path} is not a Stepwell database ({exc})") from None
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        assert self._conn is not None, "history is not open"
        conn = self._conn
        # Off the event loop: a page's query may scan, and the owner's writes must not stall
        # the dashboard's other requests. One at a time on the one connection.
        async with self._lock:
            return await asyncio.to_thread(lambda: conn.execute(sql, params).fetchall())

    async def ping(self) -> None:
        await self._fetch("SELECT count(*) FROM sqlite_master")

    async def save_app(self, app: AppRecord) -> None:
        raise PermissionError("this SQLite file is open read-only")

    async def delete_app(self, name: str) -> None:
        raise PermissionError("this SQLite file is open read-only")

    async def save_endpoint(self, endpoint: EndpointRecord) -> None:
        raise PermissionError("this SQLite file is open read-only")
