"""PostgreSQL implementation of the Store port, for many processes sharing one database.

No process owns the database, so nothing is reset at open: work leased by a process that died
is taken over when its lease expires (claims skip what others hold, ``FOR UPDATE SKIP
LOCKED``). A process that stops cleanly hands its leases back at close. Change sets go through
the group-committing writer (one connection, one round trip per batch); reads and claims use a
small pool. Commits that leave due work for anyone NOTIFY ``stepwell_work``; ``listen`` turns
that into wake-ups for the engines of other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.abc import Params

from stepwell.ports.records import AppRecord, ChangeSet, CommitResult, EndpointRecord, QueueItem
from stepwell.ports.retention import DEFAULT_PRUNE_BATCH, PruneResult
from stepwell.store.dialect import POSTGRES
from stepwell.store.postgres.pool import ConnectionPool
from stepwell.store.postgres.prune import PostgresPruneBatches
from stepwell.store.postgres.schema import migrate
from stepwell.store.postgres.writer import GroupCommitWriter
from stepwell.store.pruning import prune_in_batches
from stepwell.store.reads import Row, SqlReads
from stepwell.store.rows import ITEM_COLUMNS, dumps, item_from_row

log = logging.getLogger("stepwell.store.postgres")

CHANNEL = "stepwell_work"
_DURABILITY = ("full", "normal", "off")
_RELISTEN_DELAY_S = 1.0


class PostgresStore(SqlReads):
    dialect = POSTGRES
    shared = True
    """Several processes may use one database: the engine keeps concurrency slots in it."""

    def __init__(self, url: str, *, durability: str = "full", pool_size: int = 4) -> None:
        if durability not in _DURABILITY:
            raise ValueError(f"durability must be one of {list(_DURABILITY)}, got {durability!r}")
        self._url = url
        # Below "full", commits do not wait for the WAL flush: a crash of our process still
        # loses nothing, one of the database server may lose its last few hundred ms of commits
        # (never corrupting anything); as SQLite's "normal" loses them on a power cut.
        self._synchronous_commit = "on" if durability == "full" else "off"
        self._pool_size = pool_size
        self._sender = uuid.uuid4().hex  # tells our own notifications from others'
        self._pool: ConnectionPool | None = None
        self._writer = GroupCommitWriter(self._connect_writer, sender=self._sender)
        self._owners: set[str] = set()
        self._listener: asyncio.Task[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    async def _connect(self) -> AsyncConnection[Row]:
        return await AsyncConnection.connect(self._url, autocommit=True)

    async def _connect_writer(self) -> AsyncConnection[Row]:
        conn = await self._connect()
        await conn.execute(
            "SELECT set_config('synchronous_commit', %s, false)", (self._synchronous_commit,)
        )
        return conn

    async def migrate(self) -> list[int]:
        """Apply pending migrations (what ``open`` does first); returns their versions."""
        conn = await self._connect()
        try:
            return await migrate(conn)
        finally:
            await conn.close()

    async def open(self) -> None:
        await self.migrate()
        pool = ConnectionPool(self._connect, size=self._pool_size)
        await pool.open()
        try:
            await self._writer.start()
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    def observe_batches(self, callback: Callable[[int, float], None]) -> None:
        """Have ``callback`` told each write transaction's size and seconds (telemetry)."""
        self._writer.on_batch = callback

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._writer.stop()
        if self._pool is not None:
            try:
                await self._release_leases()
            finally:
                await self._pool.close()
                self._pool = None

    async def _release_leases(self) -> None:
        """Hand back what this process still holds, so others need not wait for the leases
        to expire (its executions have stopped by now), and tell them."""
        if not self._owners:
            return
        await self._execute(
            "WITH released AS (UPDATE queue SET lease_owner = NULL, lease_until = 0 "
            " WHERE lease_owner = ANY (%s) RETURNING due_at) "
            "SELECT pg_notify(%s, min(due_at)::text || ' ' || %s) FROM released "
            "HAVING count(*) > 0",
            (list(self._owners), CHANNEL, self._sender),
        )

    async def listen(self, wake: Callable[[int], None]) -> None:
        """Call ``wake(due_ms)`` whenever another process commits work anyone may claim,
        due at ``due_ms``. Returns once listening; stops at ``close``."""
        if self._listener is not None:
            raise RuntimeError("already listening")
        conn = await self._connect()
        await conn.execute(f"LISTEN {CHANNEL}")
        self._listener = asyncio.create_task(self._listen(conn, wake), name="stepwell-listen")

    async def _listen(self, conn: AsyncConnection[Row], wake: Callable[[int], None]) -> None:
        try:
            while True:
                try:
                    async for note in conn.notifies():
                        due, _, sender = note.payload.partition(" ")
                        if sender != self._sender and due.isdigit():
                            wake(int(due))
                except Exception:
                    log.warning("lost the LISTEN connection; listening again", exc_info=True)
                with contextlib.suppress(Exception):
                    await conn.close()
                conn = await self._relisten()
                wake(0)  # notifications may have been missed meanwhile: look now
        finally:
            await conn.close()

    async def _relisten(self) -> AsyncConnection[Row]:
        while True:
            await asyncio.sleep(_RELISTEN_DELAY_S)
            try:
                conn = await self._connect()
                await conn.execute(f"LISTEN {CHANNEL}")
                return conn
            except Exception:
                log.warning("cannot LISTEN yet; trying again", exc_info=True)

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def _readers(self) -> ConnectionPool:
        assert self._pool is not None, "store is not open"
        return self._pool

    async def _rows(self, query: str, params: Params | None = None) -> list[Row]:
        async with self._readers.connection() as conn:
            cursor = await conn.execute(query, params)
            return await cursor.fetchall()

    async def _execute(self, query: str, params: Params | None = None) -> None:
        async with self._readers.connection() as conn:
            await conn.execute(query, params)

    # -- writes ------------------------------------------------------------------------------

    async def commit(self, changes: ChangeSet) -> CommitResult:
        puts = (put.item for put in changes.items_put)
        for item in (*changes.items, *changes.items_rescheduled, *puts):
            if item.lease_owner is not None:
                self._owners.add(item.lease_owner)
        return await self._writer.submit(changes)

    def commit_in_order(
        self, changes: ChangeSet, committing: Callable[[], None] | None = None
    ) -> None:
        return None  # commits go over a pool of connections: no order between them

    async def claim_due_items(
        self, *, now_ms: int, owner: str, lease_ms: int, limit: int
    ) -> list[QueueItem]:
        self._owners.add(owner)
        rows = await self._rows(
            "UPDATE queue AS q SET lease_owner = %(owner)s, lease_until = %(until)s "
            "FROM (SELECT item_id FROM queue WHERE due_at <= %(now)s AND lease_until <= %(now)s "
            "      ORDER BY due_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) AS due "
            "WHERE q.item_id = due.item_id RETURNING "
            + ", ".join(f"q.{column}" for column in ITEM_COLUMNS.split(", ")),
            {"owner": owner, "until": now_ms + lease_ms, "now": now_ms, "limit": limit},
        )
        return sorted((item_from_row(row) for row in rows), key=lambda item: item.due_at)

    async def renew_leases(self, *, owner: str, item_ids: list[str], until_ms: int) -> None:
        if item_ids:
            await self._execute(
                "UPDATE queue SET lease_until = %s WHERE item_id = ANY (%s) AND lease_owner = %s",
                (until_ms, item_ids, owner),
            )

    async def save_app(self, app: AppRecord) -> None:
        await self._execute(
            "INSERT INTO apps (name, url, checksum, payload, app_uuid, synced_at) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (name) DO UPDATE SET url = excluded.url, "
            "checksum = excluded.checksum, payload = excluded.payload, "
            "app_uuid = excluded.app_uuid, synced_at = excluded.synced_at",
            (app.name, app.url, app.checksum, dumps(app.payload), app.app_uuid, app.synced_at),
        )

    async def delete_app(self, name: str) -> None:
        await self._execute("DELETE FROM apps WHERE name = %s", (name,))

    async def save_endpoint(self, endpoint: EndpointRecord) -> None:
        e = endpoint
        await self._execute(
            "INSERT INTO endpoints (slug, app_id, url, retries, method, path, saved_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (slug) DO UPDATE SET "
            "app_id = excluded.app_id, url = excluded.url, retries = excluded.retries, "
            "method = excluded.method, path = excluded.path, saved_at = excluded.saved_at",
            (e.slug, e.app_id, e.url, e.retries, e.method, e.path, e.saved_at),
        )

    async def prune(
        self,
        *,
        older_than_ms: int,
        batch_size: int = DEFAULT_PRUNE_BATCH,
        on_batch: Callable[[PruneResult], None] | None = None,
    ) -> PruneResult:
        """See ``Pruner.prune``: each batch is one statement on a reader connection, beside
        the writer rather than in its queue."""
        batches = PostgresPruneBatches(self._readers)
        return await prune_in_batches(
            batches, older_than_ms=older_than_ms, batch_size=batch_size, on_batch=on_batch
        )

    # -- reads (the queries are shared: ``stepwell.store.reads``) ------------------------------

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await self._rows(sql, list(params))

    async def ping(self) -> None:
        await self._rows("SELECT 1")
