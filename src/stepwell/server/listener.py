"""How the server speaks HTTP/1.1: uvicorn's httptools protocol, with each answer sent whole.

uvicorn writes an answer's head and its body as two writes, so two ``send`` calls and, with
Nagle off, two TCP segments (each waking the client). Here the writes of one turn of the
event loop go out together, at the end of that turn: one system call per answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from stepwell.server.direct_route import DirectCycle, DirectRoute, direct_key


class Config(uvicorn.Config):
    direct_route: DirectRoute | None = None
    """``POST /e/{key}``, answered by the protocol itself (``server.direct_route``)."""


DIRECT_ROUTE_UVICORN = ("0.54.",)
"""uvicorn releases whose protocol internals ``server.direct_route`` was written and tested
against (requirements.lock); under any other, every request goes through uvicorn."""


def uvicorn_config(app: ASGIApp) -> uvicorn.Config:
    """How the server runs ``app`` (``stepwell dev``/``start``, and the tests' servers)."""
    # Access lines are never printed at level warning; access_log=False also skips the call.
    config = Config(app, log_level="warning", lifespan="on", http=HttpProtocol, access_log=False)
    if uvicorn.__version__.startswith(DIRECT_ROUTE_UVICORN):
        config.direct_route = getattr(app, "direct_route", None)
    return config


class CoalescedWrites:
    """A transport whose writes within one turn of the loop go out as one write."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if self._transport.is_closing():
            return  # lost in between: written now, it would have been dropped too
        self._transport.writelines(pending)  # one writev under uvloop, without a copy

    def close(self) -> None:
        self.flush()  # what was written goes out before the FIN, as it would have
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol over ``CoalescedWrites``; a WebSocket upgrade gets the
    transport itself, as it would have."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescedWrites(transport, self.loop))  # type: ignore[arg-type]
        route: DirectRoute | None = getattr(self.config, "direct_route", None)
        if route is not None and self.server is not None and self.server[1] == route.not_on_port:
            route = None
        self._direct = route

    def on_headers_complete(self) -> None:
        route = self._direct
        key = None if route is None else direct_key(self)
        if route is None or key is None:
            super().on_headers_complete()
            return
        # As uvicorn starts or queues a cycle of its own (pipelined requests wait their turn).
        existing = self.cycle
        cycle = DirectCycle(
            route,
            key,
            self.headers,
            self.transport,
            self.flow,
            self.server_state.default_headers,
            self.parser.should_keep_alive(),
            self.on_response_complete,
            self.logger,
        )
        self.cycle = cycle  # type: ignore[assignment]
        if existing is None or existing.response_complete:
            self._start_asgi_task(cycle, self.app)  # type: ignore[arg-type]
        else:
            self.flow.pause_reading()
            self.pipeline.appendleft((cycle, self.app))  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        transport = self.transport
        if isinstance(transport, CoalescedWrites):
            transport.flush()
            self.transport = transport._transport
        super().handle_websocket_upgrade()
