"""Connect requests between processes that share one PostgreSQL database.

A worker's WebSocket ends in one process; a run of its function may execute in any. This
transport lets the executing process (the *origin*) hand one executor request to the process
holding a socket for the function (the *target*) and get the worker's reply back:

* every process beats into ``connect_processes`` (once per ``beat_s``) with the functions its
  sockets serve; a process whose beat is older than ``stale_s`` is taken for dead;
* the origin inserts the request as a row of ``connect_forwards`` and NOTIFYs
  ``stepwell_connect`` with ``req <target> <id>`` (the payload stays tiny whatever the request's
  size); the target takes the row (``taken``), has it answered, writes the reply into the row
  and NOTIFYs ``rep <origin> <id>``; the origin reads the reply and deletes the row;
* notifications can be missed (a LISTEN connection that dropped), so both sides also look at
  the table: the target every beat for rows addressed to it, the origin every ``poll_s``;
* a request is *lost* (the origin's ``call`` returns None, and the driver sends it again,
  possibly somewhere else) when its row is gone (the target could not deliver it, or stopped)
  or its target stopped beating (killed). The run itself never depends on these rows: the
  origin holds the run's queue item under its lease, and if the origin dies the item is taken
  over by another process as any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from psycopg import AsyncConnection

from stepwell.core.ids import new_ulid
from stepwell.store.postgres.pool import ConnectionPool

log = logging.getLogger("stepwell.store.postgres.relay")

CHANNEL = "stepwell_connect"
Handler = Callable[[bytes], Awaitable[bytes | None]]
"""Answers a forwarded request (the worker's reply), or None when it could not be delivered."""
_SWEEP_EVERY = 30
"""Beats between two sweeps of rows whose origin is dead."""


class PostgresRelay:
    def __init__(
        self,
        url: str,
        *,
        beat_s: float = 1.0,
        stale_s: float = 5.0,
        poll_s: float = 1.0,
        process_id: str | None = None,
    ) -> None:
        # Given the engine's lease owner, a queue item's lease names the process to ask.
        self.process_id = process_id or uuid.uuid4().hex
        self.poll_s = poll_s
        self._url = url
        self._beat_s = beat_s
        self._stale_s = stale_s
        self._pool = ConnectionPool(self._connect, size=3)
        self._handler: Handler | None = None
        self._slugs: Callable[[], set[str]] = set
        self._waiters: dict[str, asyncio.Event] = {}
        self._serving: dict[str, asyncio.Task[None]] = {}
        self._tasks: list[asyncio.Task[None]] = []

    async def _connect(self) -> AsyncConnection[Any]:
        return await AsyncConnection.connect(self._url, autocommit=True)

    async def _run(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(sql, params)
            return await cursor.fetchall() if cursor.description else []

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, handler: Handler, slugs: Callable[[], set[str]]) -> None:
        """Serve requests forwarded to us with ``handler``; advertise ``slugs()`` each beat."""
        self._handler = handler
        self._slugs = slugs
        await self._pool.open()
        await self._beat()
        listener = await self._connect()
        await listener.execute(f"LISTEN {CHANNEL}")
        self._tasks = [
            asyncio.create_task(self._listen(listener), name="stepwell-connect-listen"),
            asyncio.create_task(self._beats(), name="stepwell-connect-beat"),
        ]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._serving.values()]:
            task.cancel()
        for task in [*self._tasks, *self._serving.values()]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            # Requests we hold are given up (their origins send them again); we serve nothing.
            await self._run(
                "WITH gone AS (DELETE FROM connect_forwards WHERE target = %s AND reply IS NULL "
                " RETURNING origin, request_id) "
                "SELECT pg_notify(%s, 'rep ' || origin || ' ' || request_id) FROM gone",
                (self.process_id, CHANNEL),
            )
            await self._run(
                "DELETE FROM connect_processes WHERE process_id = %s", (self.process_id,)
            )
        await self._pool.close()

    # -- the origin's side ---------------------------------------------------------------------

    async def find(self, slug: str) -> str | None:
        """Another live process whose sockets serve ``slug`` (one at random), if any."""
        rows = await self._run(
            "SELECT process_id FROM connect_processes WHERE process_id <> %s "
            "AND %s = ANY (slugs) AND beat_at > now() - make_interval(secs => %s) "
            "ORDER BY random() LIMIT 1",
            (self.process_id, slug, self._stale_s),
        )
        return str(rows[0][0]) if rows else None

    async def call(self, target: str, request: bytes) -> bytes | None:
        """Have ``target`` deliver ``request``: its reply, or None when the request was lost."""
        request_id = new_ulid()
        woken = asyncio.Event()
        self._waiters[request_id] = woken
        try:
            await self._run(
                "WITH put AS (INSERT INTO connect_forwards (request_id, origin, target, request) "
                " VALUES (%s, %s, %s, %s) RETURNING request_id) "
                "SELECT pg_notify(%s, 'req ' || %s || ' ' || request_id) FROM put",
                (request_id, self.process_id, target, request, CHANNEL, target),
            )
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), self.poll_s)
                woken.clear()
                rows = await self._run(
                    "SELECT f.reply, EXISTS (SELECT 1 FROM connect_processes AS p "
                    " WHERE p.process_id = f.target "
                    " AND p.beat_at > now() - make_interval(secs => %s)) "
                    "FROM connect_forwards AS f WHERE f.request_id = %s",
                    (self._stale_s, request_id),
                )
                if not rows:
                    return None  # the target gave it up
                reply, alive = rows[0]
                if reply is not None:
                    return bytes(reply)
                if not alive:
                    log.warning("process %s holding request %s stopped beating", target, request_id)
                    return None
        finally:
            self._waiters.pop(request_id, None)
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self._run("DELETE FROM connect_forwards WHERE request_id = %s", (request_id,))
                )

    # -- the target's side ---------------------------------------------------------------------

    async def _take(self, request_id: str) -> None:
        if request_id in self._serving or self._handler is None:
            return
        rows = await self._run(
            "UPDATE connect_forwards SET taken = true "
            "WHERE request_id = %s AND target = %s AND NOT taken RETURNING request",
            (request_id, self.process_id),
        )
        if rows:
            task = asyncio.create_task(self._serve(request_id, bytes(rows[0][0])))
            self._serving[request_id] = task

    async def _serve(self, request_id: str, request: bytes) -> None:
        assert self._handler is not None
        try:
            try:
                reply = await self._handler(request)
            except Exception:
                log.exception("serving forwarded Connect request %s failed", request_id)
                reply = None
            if reply is None:  # not delivered: the origin sends it again
                sql = "DELETE FROM connect_forwards WHERE request_id = %s RETURNING origin"
                params: tuple[Any, ...] = (request_id,)
            else:
                sql = (
                    "UPDATE connect_forwards SET reply = %s WHERE request_id = %s RETURNING origin"
                )
                params = (reply, request_id)
            await self._run(
                f"WITH done AS ({sql}) SELECT pg_notify(%s, 'rep ' || origin || ' ' || %s) "
                "FROM done",
                (*params, CHANNEL, request_id),
            )
        finally:
            self._serving.pop(request_id, None)

    # -- background ----------------------------------------------------------------------------

    async def _beat(self) -> None:
        await self._run(
            "INSERT INTO connect_processes (process_id, slugs) VALUES (%s, %s) "
            "ON CONFLICT (process_id) DO UPDATE SET slugs = excluded.slugs, beat_at = now()",
            (self.process_id, sorted(self._slugs())),
        )

    async def _beats(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(self._beat_s)
            beats += 1
            try:
                await self._beat()
                # Requests whose notification we missed.
                for (request_id,) in await self._run(
                    "SELECT request_id FROM connect_forwards WHERE target = %s AND NOT taken",
                    (self.process_id,),
                ):
                    await self._take(str(request_id))
                if beats % _SWEEP_EVERY == 0:
                    await self._sweep()
            except Exception:
                log.warning("Connect relay beat failed", exc_info=True)

    async def _sweep(self) -> None:
        """Rows nobody will read (their origin is dead) and processes long gone."""
        await self._run(
            "DELETE FROM connect_forwards AS f WHERE NOT EXISTS (SELECT 1 "
            " FROM connect_processes AS p WHERE p.process_id = f.origin "
            " AND p.beat_at > now() - make_interval(secs => %s))",
            (self._stale_s,),
        )
        await self._run("DELETE FROM connect_processes WHERE beat_at < now() - interval '1 hour'")

    async def _listen(self, conn: AsyncConnection[Any]) -> None:
        while True:
            try:
                async for note in conn.notifies():
                    kind, _, rest = note.payload.partition(" ")
                    whom, _, request_id = rest.partition(" ")
                    if whom != self.process_id:
                        continue
                    if kind == "rep":
                        waiter = self._waiters.get(request_id)
                        if waiter is not None:
                            waiter.set()
                    elif kind == "req":
                        await self._take(request_id)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await conn.close()
                raise
            except Exception:
                log.warning("lost the Connect LISTEN connection; listening again", exc_info=True)
            with contextlib.suppress(Exception):
                await conn.close()
            conn = await self._relisten()
            for waiter in self._waiters.values():
                waiter.set()  # replies may have been missed meanwhile: look now

    async def _relisten(self) -> AsyncConnection[Any]:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                conn = await self._connect()
                await conn.execute(f"LISTEN {CHANNEL}")
                return conn
            except Exception:
                log.warning("cannot LISTEN for Connect yet; trying again", exc_info=True)
