"""SQLite implementation of the Store port.

One process owns the file (an exclusive lock beside it), so leases left by a crashed process
are released at open. Writes go through the group-committing writer thread; reads use their
own connection on the caller's thread (WAL readers never wait for the writer, and these reads
are index lookups that take microseconds).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from stepwell.ports.records import (
    AppRecord,
    ChangeSet,
    CommitResult,
    EndpointRecord,
    Pause,
    PauseKind,
    QueueItem,
)
from stepwell.ports.retention import DEFAULT_PRUNE_BATCH, PruneResult
from stepwell.store.dialect import SQLITE
from stepwell.store.migrations import load_migrations
from stepwell.store.pruning import prune_in_batches
from stepwell.store.reads import Row, SqlReads
from stepwell.store.rows import ITEM_COLUMNS, dumps, item_from_row
from stepwell.store.sqlite.merge import ChangeSetJob
from stepwell.store.sqlite.prune import SqlitePruneBatches
from stepwell.store.sqlite.writer import GroupCommitWriter

_DURABILITY = {"full": "FULL", "normal": "NORMAL", "off": "OFF"}


def _null(value: None) -> None:
    return None


def _bind_none_cheaply() -> None:
    """sqlite3 binds exact ints, floats and strings directly and sends any other value, None
    included, through its adapter protocol: a registry miss, then two failed attribute
    lookups, ~0.5 µs per None on the writer's thread, holding the GIL (a run binds about 15).
    A registered adapter is found at the first lookup; it returns None, bound as NULL as
    before. Left alone if the process registered its own."""
    if (type(None), sqlite3.PrepareProtocol) not in sqlite3.adapters:
        sqlite3.register_adapter(type(None), _null)


def sqlite_path_from_url(url: str) -> str:
    """``sqlite:///a.db`` → ``a.db``; ``sqlite:////tmp/a.db`` → ``/tmp/a.db``."""
    for prefix in ("sqlite:///", "sqlite://"):
        if url.startswith(prefix):
            path = url[len(prefix) :]
            if not path:
                break
            return path
    raise ValueError(f"invalid SQLite URL {url!r}: expected sqlite:///path/to/file.db")


class SqliteStore(SqlReads):
    dialect = SQLITE

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
        # Event names no run waits for, as of a count of commits that stored pauses: most
        # events resume nothing, and this process is the file's only writer.
        self._pauses_stored = 0
        self._no_pauses: dict[tuple[str, PauseKind], int] = {}
        self._lock_fd: int | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        _bind_none_cheaply()
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

    def observe_batches(self, callback: Callable[[int, float], None]) -> None:
        """Have ``callback`` told each write transaction's size and seconds (telemetry)."""
        self._writer.on_batch = callback

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
        return await self._queue(changes)

    def commit_in_order(
        self, changes: ChangeSet, committing: Callable[[], None] | None = None
    ) -> Awaitable[CommitResult] | None:
        # One writer thread: an urgent job leads the next transaction, ahead of every job
        # queued after it (and urgent ones keep their order among themselves).
        return self._queue(changes, committing) if changes.urgent else None

    def _queue(
        self, changes: ChangeSet, committing: Callable[[], None] | None = None
    ) -> asyncio.Future[CommitResult]:
        job = ChangeSetJob(changes)
        future: asyncio.Future[CommitResult] = self._writer.submit(
            job, urgent=changes.urgent, committing=committing
        )
        if changes.pauses:
            # Counted once the transaction has ended (the future is resolved after COMMIT),
            # even if our caller stops waiting: an answer read before it is then stale.
            future.add_done_callback(self._pauses_changed)
            future = asyncio.shield(future)
        return future

    def _pauses_changed(self, _: object) -> None:
        self._pauses_stored += 1

    async def find_pauses(
        self,
        event_name: str,
        correlation_id: str | None = None,
        kind: PauseKind = PauseKind.EVENT,
    ) -> list[Pause]:
        """As ``SqlReads.find_pauses``, without asking again for a name that had no pauses
        while no commit has stored one since (deleting pauses never makes an answer stale)."""
        if correlation_id is not None:
            return await super().find_pauses(event_name, correlation_id, kind)
        key = (event_name, kind)
        stored = self._pauses_stored  # read before the query: a commit after it moves it on
        if self._no_pauses.get(key) == stored:
            return []
        found = await super().find_pauses(event_name, kind=kind)
        if not found:
            if len(self._no_pauses) >= 10_000:
                self._no_pauses.clear()
            self._no_pauses[key] = stored
        return found

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

    async def save_endpoint(self, endpoint: EndpointRecord) -> None:
        e = endpoint
        await self._writer.submit(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO endpoints (slug, app_id, url, retries, method, path, "
                "saved_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (e.slug, e.app_id, e.url, e.retries, e.method, e.path, e.saved_at),
            )
        )

    async def prune(
        self,
        *,
        older_than_ms: int,
        batch_size: int = DEFAULT_PRUNE_BATCH,
        on_batch: Callable[[PruneResult], None] | None = None,
    ) -> PruneResult:
        """See ``Pruner.prune``: each batch is one job of the writer, so one short
        transaction among the others."""
        batches = SqlitePruneBatches(self._writer.submit)
        return await prune_in_batches(
            batches, older_than_ms=older_than_ms, batch_size=batch_size, on_batch=on_batch
        )

    # -- reads (the queries are shared: ``stepwell.store.reads``) ------------------------------

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        # WAL readers never wait for the writer, and these are index lookups: run inline.
        return self._db.execute(sql, params).fetchall()

    async def ping(self) -> None:
        self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()
