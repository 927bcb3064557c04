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


def uvicorn_config(app: ASGIApp) -> uvicorn.Config:
    """How the server runs ``app`` (``stepwell dev``/``start``, and the tests' servers)."""
    # Access lines are never printed at level warning; access_log=False also skips the call.
    return uvicorn.Config(
        app, log_level="warning", lifespan="on", http=HttpProtocol, access_log=False
    )


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

    def handle_websocket_upgrade(self) -> None:
        transport = self.transport
        if isinstance(transport, CoalescedWrites):
            transport.flush()
            self.transport = transport._transport
        super().handle_websocket_upgrade()
