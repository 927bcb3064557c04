"""A small pool of autocommit connections for reads, claims and lease renewals.

Not psycopg_pool: on Python 3.11 its getconn waits with ``asyncio.wait_for``, which swallows a
task's cancellation when a connection arrives at the same moment, so a cancelled caller (the
engine's poll loop at shutdown) carried on as if never cancelled. ``asyncio.Queue.get`` is
cancellation-safe, and this is all we need: grow on demand up to ``size``, replace connections
that come back broken.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection
from psycopg.pq import TransactionStatus

Connection = AsyncConnection[tuple[Any, ...]]


class ConnectionPool:
    def __init__(self, connect: Callable[[], Awaitable[Connection]], *, size: int) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one connection")
        self._connect = connect
        self._size = size
        # Idle connections, and None for a slot whose connection broke: its taker reconnects.
        self._idle: asyncio.Queue[Connection | None] = asyncio.Queue()
        self._count = 0  # slots taken: connections open (idle or in use) and None entries
        self._closed = False

    async def open(self) -> None:
        """Open one connection now, so a bad URL fails here rather than at the first read."""
        self._count += 1
        try:
            self._idle.put_nowait(await self._connect())
        except BaseException:
            self._count -= 1
            raise

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        conn = await self._acquire()
        try:
            yield conn
        finally:
            await self._release(conn)

    async def _acquire(self) -> Connection:
        if self._closed:
            raise RuntimeError("the connection pool is closed")
        if self._idle.empty() and self._count < self._size:
            self._count += 1
            try:
                return await self._connect()
            except BaseException:
                self._count -= 1
                raise
        conn = await self._idle.get()
        if conn is not None:
            return conn
        try:
            return await self._connect()
        except BaseException:
            self._idle.put_nowait(None)
            raise

    async def _release(self, conn: Connection) -> None:
        healthy = not conn.broken and conn.pgconn.transaction_status == TransactionStatus.IDLE
        if healthy and not self._closed:
            self._idle.put_nowait(conn)
            return
        await conn.close()
        self._idle.put_nowait(None)

    async def close(self) -> None:
        """Close the idle connections now; those in use close when they come back."""
        self._closed = True
        while not self._idle.empty():
            conn = self._idle.get_nowait()
            if conn is not None:
                await conn.close()
