"""SQLite implementation of the Store port.

One process owns the file (an exclusive lock beside it), so leases left by a crashed process
are released at open. Writes go through the group-committing writer thread; reads use their
own connection on the caller's thread (WAL readers never wait for the writer, and these reads
are index lookups that take microseconds).
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stepwell.ports.records import (
    AppRecord,
    ChangeSet,
    CommitResult,
    ItemKind,
    Pause,
    PauseKind,
    QueueItem,
    RunRecord,
    StoredEvent,
)
from stepwell.ports.retention import DEFAULT_PRUNE_BATCH, PruneResult
from stepwell.store.migrations import load_migrations
from stepwell.store.pruning import prune_in_batches
from stepwell.store.rows import (
    ITEM_COLUMNS,
    PAUSE_COLUMNS,
    RUN_COLUMNS,
    dumps,
    event_from_row,
    item_from_row,
    pause_from_row,
    run_from_row,
)
from stepwell.store.sqlite.apply import apply_change_set
from stepwell.store.sqlite.prune import SqlitePruneBatches
from stepwell.store.sqlite.writer import GroupCommitWriter

_DURABILITY = {"full": "FULL", "normal": "NORMAL", "off": "OFF"}


def sqlite_path_from_url(url: str) -> str:
    """``sqlite:///a.db`` → ``a.db``; ``sqlite:////tmp/a.db`` → ``/tmp/a.db``."""
    for prefix in ("sqlite:///", "sqlite://"):
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if not path:
                break
            return path
    raise ValueError(f"invalid SQLite URL {url!r}: expected sqlite:///path/to/file.db")


class SqliteStore:
    def __init__(self, path: str, *, durability: str = "full") -> None:
        if durability not in _DURABILITY:
            raise ValueError(f"durability must be one of {sorted(_DURABILITY)}, got {durability!r}")
        self._memory = path == ":memory:"
        self._path = (
            f"file:stepwell-{uuid.uuid4().hex}?mode=memory&cache=shared" if self._memory else path
        )
        self._synchronous = _DURABILITY[durability]
        self._writer = GroupCommitWriter(self._connect_writer)
        self._reader: sqlite3.Connection | None = None
        self._lock_fd: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, uri=self._memory
        )
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA foreign_keys = OFF")
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        if not self._memory:
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        self._migrate(conn)
        # We hold the file lock: whatever a previous process leased is ours to redo.
        conn.execute("UPDATE queue SET lease_owner = NULL, lease_until = 0")
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
        )
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for migration in load_migrations("stepwell.store.sqlite"):
            if migration.version in applied:
                continue
            # One script, one transaction: a migration applies whole or not at all.
            try:
                conn.executescript(
                    f"BEGIN IMMEDIATE;\n{migration.sql}\n;"
                    f"INSERT INTO schema_migrations (version, name) "
                    f"VALUES ({migration.version}, '{migration.name}');\nCOMMIT;"
                )
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    async def open(self) -> None:
        if not self._memory:
            parent = Path(self._path).parent
            parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(f"{self._path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise RuntimeError(
                    f"{self._path} is in use by another Stepwell process; a SQLite store has one "
                    "owner (use PostgreSQL to share a database between processes)"
                ) from None
            self._lock_fd = fd
        self._writer.start()
        self._reader = self._connect()

    async def close(self) -> None:
        self._writer.stop()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def listen(self, wake: Callable[[int], None]) -> None:
        """Nothing to hear: this process owns the file, and wakes itself for what it commits."""

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._reader is not None, "store is not open"
        return self._reader

    # -- writes ------------------------------------------------------------------------------

    async def commit(self, changes: ChangeSet) -> CommitResult:
        job = functools.partial(apply_change_set, changes=changes)
        result: CommitResult = await self._writer.submit(job)
        return result

    async def claim_due_items(
        self, *, now_ms: int, owner: str, lease_ms: int, limit: int
    ) -> list[QueueItem]:
        probe = self._db.execute(
            "SELECT 1 FROM queue WHERE due_at <= ? AND lease_until <= ? LIMIT 1", (now_ms, now_ms)
        ).fetchone()
        if probe is None:  # the common case costs a read, not a commit
            return []

        def claim(conn: sqlite3.Connection) -> list[QueueItem]:
            rows = conn.execute(
                "UPDATE queue SET lease_owner = ?, lease_until = ? WHERE item_id IN ("
                " SELECT item_id FROM queue WHERE due_at <= ? AND lease_until <= ?"
                " ORDER BY due_at LIMIT ?) RETURNING " + ITEM_COLUMNS,
                (owner, now_ms + lease_ms, now_ms, now_ms, limit),
            ).fetchall()
            return sorted((item_from_row(row) for row in rows), key=lambda item: item.due_at)

        claimed: list[QueueItem] = await self._writer.submit(claim)
        return claimed

    async def writer_pragma(self, name: str) -> Any:
        """A setting as the writer connection has it (``synchronous``: 2 = FULL, 1 = NORMAL)."""
        if not name.isidentifier():
            raise ValueError(f"invalid pragma name {name!r}")
        return await self._writer.submit(lambda conn: conn.execute(f"PRAGMA {name}").fetchone()[0])

    async def renew_leases(self, *, owner: str, item_ids: list[str], until_ms: int) -> None:
        if not item_ids:
            return

        def renew(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE queue SET lease_until = ? WHERE item_id = ? AND lease_owner = ?",
                [(until_ms, item_id, owner) for item_id in item_ids],
            )

        await self._writer.submit(renew)

    async def save_app(self, app: AppRecord) -> None:
        def save(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO apps (name, url, checksum, payload, app_uuid, synced_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (app.name, app.url, app.checksum, dumps(app.payload), app.app_uuid, app.synced_at),
            )

        await self._writer.submit(save)

    async def delete_app(self, name: str) -> None:
        await self._writer.submit(
            lambda conn: conn.execute("DELETE FROM apps WHERE name = ?", (name,))
        )

    async def prune(
        self, *, older_than_ms: int, batch_size: int = DEFAULT_PRUNE_BATCH
    ) -> PruneResult:
        """See ``Pruner.prune``: each batch is one job of the writer, so one short
        transaction among the others."""
        batches = SqlitePruneBatches(self._writer.submit)
        return await prune_in_batches(batches, older_than_ms=older_than_ms, batch_size=batch_size)

    # -- reads -------------------------------------------------------------------------------

    async def get_run(self, run_id: str) -> RunRecord | None:
        row = self._db.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,))
        found = row.fetchone()
        return run_from_row(found) if found else None

    async def list_runs(
        self, *, function_id: str | None = None, event_id: str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        clauses: list[str] = []
        params: list[Any] = []
        if function_id is not None:
            clauses.append("function_id = ?")
            params.append(function_id)
        if event_id is not None:
            clauses.append("run_id IN (SELECT run_id FROM run_events WHERE event_id = ?)")
            params.append(event_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(
            f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY run_id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [run_from_row(row) for row in rows]

    async def get_events(self, internal_ids: list[str]) -> list[StoredEvent]:
        if not internal_ids:
            return []
        marks = ",".join("?" * len(internal_ids))
        rows = self._db.execute(
            f"SELECT internal_id, name, user_id, ts, received_at, body FROM events "
            f"WHERE internal_id IN ({marks})",
            internal_ids,
        ).fetchall()
        by_id = {row[0]: event_from_row(row) for row in rows}
        return [by_id[i] for i in internal_ids if i in by_id]

    async def list_events(
        self,
        *,
        name: str | None = None,
        limit: int = 100,
        before_id: str | None = None,
        received_after: int | None = None,
        received_before: int | None = None,
    ) -> list[StoredEvent]:
        clauses: list[str] = []
        params: list[Any] = []
        for clause, value in (
            ("name = ?", name),
            ("internal_id < ?", before_id),
            ("received_at >= ?", received_after),
            ("received_at < ?", received_before),
        ):
            if value is not None:
                clauses.append(clause)
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(
            f"SELECT internal_id, name, user_id, ts, received_at, body FROM events {where} "
            "ORDER BY internal_id DESC LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [event_from_row(row) for row in rows]

    async def load_memo(self, run_id: str) -> dict[str, Any]:
        rows = self._db.execute(
            "SELECT step_hash, value FROM steps WHERE run_id = ? ORDER BY rowid", (run_id,)
        ).fetchall()
        return {row[0]: json.loads(row[1]) for row in rows}

    async def find_pauses(
        self,
        event_name: str,
        correlation_id: str | None = None,
        kind: PauseKind = PauseKind.EVENT,
    ) -> list[Pause]:
        if correlation_id is not None:
            sql = f"SELECT {PAUSE_COLUMNS} FROM pauses WHERE correlation_id = ? ORDER BY rowid"
            params: tuple[Any, ...] = (correlation_id,)
        else:
            sql = (
                f"SELECT {PAUSE_COLUMNS} FROM pauses WHERE event_name = ? AND kind = ? "
                "ORDER BY rowid"
            )
            params = (event_name, kind.value)
        return [pause_from_row(row) for row in self._db.execute(sql, params).fetchall()]

    async def get_item(self, item_id: str) -> QueueItem | None:
        row = self._db.execute(
            f"SELECT {ITEM_COLUMNS} FROM queue WHERE item_id = ?", (item_id,)
        ).fetchone()
        return item_from_row(row) if row else None

    async def list_apps(self) -> list[AppRecord]:
        rows = self._db.execute(
            "SELECT name, url, checksum, payload, app_uuid, synced_at FROM apps ORDER BY name"
        ).fetchall()
        return [AppRecord(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    async def get_states(self, keys: list[str]) -> dict[str, tuple[Any, int]]:
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self._db.execute(
            f"SELECT key, value, version FROM flow_state WHERE key IN ({marks})", keys
        ).fetchall()
        return {row[0]: (json.loads(row[1]), row[2]) for row in rows}

    async def items_of_kind(self, kind: ItemKind) -> list[QueueItem]:
        rows = self._db.execute(
            f"SELECT {ITEM_COLUMNS} FROM queue WHERE kind = ? ORDER BY item_id", (kind.value,)
        ).fetchall()
        return [item_from_row(row) for row in rows]

    async def ping(self) -> None:
        self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()

    async def next_due_at(self) -> int | None:
        row = self._db.execute("SELECT MIN(due_at) FROM queue WHERE lease_owner IS NULL").fetchone()
        return None if row is None or row[0] is None else int(row[0])


# -- row mapping ---------------------------------------------------------------------------------
