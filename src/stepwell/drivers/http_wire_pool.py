"""The lean HTTP/1.1 client's pool (drivers/http_wire.py says why the client exists):
keep-alive connections per origin, ``limit`` in all, idle ones closed after ``keepalive_s``,
callers queued for a free one no longer than the request's timeout (as httpx's pool timeout
and aiohttp's connect timeout), and one retry on a new connection when a kept one turns out
to have been closed by the app."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Mapping

from stepwell.drivers.http_wire import (
    Answer,
    Origin,
    Target,
    TransportError,
    WireConnection,
    request_head,
)


class WirePool:
    """Keep-alive connections per origin, ``limit`` in all, for one event loop."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        limit: int = 100,
        keepalive_s: float = 5.0,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 7200.0,
    ) -> None:
        self.loop = loop
        self._limit = limit
        self._keepalive_s = keepalive_s
        self._connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._idle: dict[Origin, list[WireConnection]] = {}
        self._open: set[WireConnection] = set()  # every connection counted against the limit
        self._opening = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._sweep_at: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def connections(self) -> int:
        return len(self._open) + self._opening

    async def post(self, target: Target, body: bytes, headers: Mapping[str, str]) -> Answer:
        head = request_head(target, headers, len(body))
        connection = await self._acquire(target.origin, fresh=False)
        reused = connection.answers > 0
        try:
            return await self._exchange(connection, head, body)
        except TransportError:
            if not (reused and connection.stale):
                raise
        # The app closed the kept connection as we wrote to it (its own keep-alive ran out):
        # once more, on a new connection.
        return await self._exchange(await self._acquire(target.origin, fresh=True), head, body)

    async def aclose(self) -> None:
        self._closed = True
        if self._sweep_at is not None:
            self._sweep_at.cancel()
            self._sweep_at = None
        self._idle.clear()
        for connection in list(self._open):
            self._discard(connection)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(
                    TransportError("ClientConnectionError", "Connector is closed.")
                )

    # -- connections -------------------------------------------------------------------------

    async def _exchange(self, connection: WireConnection, head: bytes, body: bytes) -> Answer:
        try:
            answer = await connection.send(head, body)
        except BaseException:  # failed, or cancelled mid-answer: its state is unknown
            self._discard(connection)
            raise
        if connection.reusable and not self._closed and _drained(connection):
            self._keep(connection)
        else:
            self._discard(connection)
        return answer

    async def _acquire(self, origin: Origin, *, fresh: bool) -> WireConnection:
        while True:
            if self._closed:
                raise TransportError("ClientConnectionError", "Connector is closed.")
            idle = self._idle.get(origin)
            if idle and not fresh:
                now = self.loop.time()
                while idle:
                    connection = idle.pop()
                    if (
                        connection.state == "idle"
                        and now - connection.idle_since < self._keepalive_s
                    ):
                        connection.state = "busy"
                        return connection
                    self._discard(connection)
            if self.connections < self._limit:
                return await self._connect(origin)
            if not self._drop_an_idle_connection():
                await self._wait_for_a_slot(origin)

    async def _connect(self, origin: Origin) -> WireConnection:
        host, port = origin
        self._opening += 1
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                transport, connection = await self.loop.create_connection(
                    lambda: WireConnection(self.loop, origin, self.read_timeout_s, self.lost_idle),
                    host,
                    port,
                )
        except TimeoutError:
            self._gave_up_opening()
            raise TransportError(
                "ConnectionTimeoutError", f"Connection timeout to host http://{host}:{port}"
            ) from None
        except OSError as exc:
            self._gave_up_opening()
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise TransportError(
                "ClientConnectorError",
                f"Cannot connect to host {host}:{port} ssl:default [{reason}]",
            ) from exc
        except BaseException:
            self._gave_up_opening()
            raise
        self._opening -= 1
        # Under uvloop connection_made may not have run yet: the transport is known already.
        connection.transport = transport
        self._open.add(connection)
        if connection.state == "gone":  # lost before we held it
            self._discard(connection)
            raise TransportError("ServerDisconnectedError", "Server disconnected")
        return connection

    def _gave_up_opening(self) -> None:
        self._opening -= 1
        self._wake()

    def _keep(self, connection: WireConnection) -> None:
        connection.state = "idle"
        connection.idle_since = self.loop.time()
        idle = self._idle.get(connection.origin)
        if idle is None:
            self._idle[connection.origin] = [connection]
        else:
            idle.append(connection)
        if self._sweep_at is None:
            self._sweep_at = self.loop.call_at(
                connection.idle_since + self._keepalive_s, self._sweep
            )
        self._wake()

    def _discard(self, connection: WireConnection) -> None:
        if connection.state != "gone":
            connection.state = "gone"
            connection.close()
        if connection in self._open:
            self._open.discard(connection)
            self._wake()

    def lost_idle(self, connection: WireConnection) -> None:
        """An idle connection the app closed: out of the pool now, not at its next use."""
        idle = self._idle.get(connection.origin)
        if idle and connection in idle:
            idle.remove(connection)
        self._discard(connection)

    def _sweep(self) -> None:
        """Close the connections idle for ``keepalive_s``; come back for the next due."""
        self._sweep_at = None
        now = self.loop.time()
        next_due: float | None = None
        for origin, idle in list(self._idle.items()):
            kept = []
            for connection in idle:
                if now - connection.idle_since >= self._keepalive_s:
                    self._discard(connection)
                else:
                    kept.append(connection)
                    due = connection.idle_since + self._keepalive_s
                    next_due = due if next_due is None else min(next_due, due)
            if kept:
                self._idle[origin] = kept
            else:
                del self._idle[origin]
        if next_due is not None and not self._closed:
            self._sweep_at = self.loop.call_at(next_due, self._sweep)

    def _drop_an_idle_connection(self) -> bool:
        """At the limit: close an idle connection to another origin to make room."""
        for idle in self._idle.values():
            if idle:
                self._discard(idle.pop(0))
                return True
        return False

    async def _wait_for_a_slot(self, origin: Origin) -> None:
        waiter: asyncio.Future[None] = self.loop.create_future()
        self._waiters.append(waiter)
        try:
            # As httpx's pool timeout and aiohttp's connect timeout: the request's.
            async with asyncio.timeout(self.read_timeout_s):
                await waiter
        except TimeoutError:
            host, port = origin
            raise TransportError(
                "ConnectionTimeoutError", f"Connection timeout to host http://{host}:{port}"
            ) from None
        finally:
            if not waiter.done():
                waiter.cancel()
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


def _drained(connection: WireConnection) -> bool:
    """Whether all of the request went out (an app may answer before reading it all)."""
    transport = connection.transport
    return transport is not None and transport.get_write_buffer_size() == 0
