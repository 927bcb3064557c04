"""``POST /e/{key}`` answered by the HTTP protocol itself, ahead of the ASGI app.

The event intake is the server's hottest path, and its handler needs nothing of ASGI. Through
uvicorn each request costs a ``RequestResponseCycle``, its ASGI messages, a pass through the
middlewares, and a header check by regular expression per header written (~25 us of the
~40 us uvicorn spends per request on this machine, measured with a trivial app). A request
taken here is one the route would answer in full, from a body held whole in memory: it gets
the same answer, byte for byte (uvicorn's default headers first, then the route's), in one
write. Anything else (another path or method, a chunked or large body, ``Expect``, HTTP/1.0,
a mounted root path, a concurrency limit) goes to uvicorn as before.

A ``DirectCycle`` stands where uvicorn's cycle would (``protocol.cycle``, the pipeline
queue), with the attributes the protocol reads and writes on a cycle, so that keep-alive,
pipelining, a lost connection and a graceful shutdown go through uvicorn's own code.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from starlette.types import Receive
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

Headers = list[tuple[bytes, bytes]]
Answer = Callable[[str, Headers, Receive], Awaitable[tuple[int, bytes]]]

MAX_DIRECT_BODY = 1024 * 1024
"""Bodies up to this are read whole here; a larger one goes to uvicorn, whose cycle pauses
reading past its high-water mark."""

PLAIN_500 = b"Internal Server Error"


@dataclass(frozen=True)
class DirectRoute:
    """What the protocol needs to answer ``POST /e/{key}`` itself."""

    answer: Answer
    """The route's answer to a request's key, headers and body (``EventIntake.answer``)."""
    ok_headers: Headers
    """Sent after ``content-length`` with an answer."""
    error_headers: Headers
    """Sent after ``content-length`` with the plain 500 when ``answer`` raises."""
    not_on_port: int | None = None
    """A local port whose requests go to another app (the Connect gateway's)."""

    def on_all_ports_but(self, port: int) -> DirectRoute:
        return replace(self, not_on_port=port)


def direct_key(protocol: Any) -> str | None:
    """The event key if the request whose head ``protocol`` (uvicorn's httptools protocol)
    has just parsed can be answered directly, else None."""
    parser = protocol.parser
    if (
        protocol.expect_100_continue
        or protocol.root_path
        or protocol.limit_concurrency is not None
        or parser.get_method() != b"POST"
        or parser.get_http_version() != "1.1"
        or parser.should_upgrade()
    ):
        return None
    url: bytes = protocol.url
    path, _, _ = url.partition(b"?")
    # What uvicorn would decode or unquote, the router then sees otherwise: left to them.
    if not path.startswith(b"/e/") or b"/" in path[3:] or b"%" in path or b"#" in url:
        return None
    if not path.isascii():
        return None
    length = None
    for name, value in protocol.headers:
        if name == b"content-length":
            if length is not None:
                return None
            length = value
        elif name == b"transfer-encoding":
            return None
    if length is None or not length.isdigit() or len(length) > 9:
        return None
    if int(length) > MAX_DIRECT_BODY:
        return None
    return path[3:].decode("ascii")


class DirectCycle:
    """One request answered directly, as the protocol sees it: a cycle."""

    def __init__(
        self,
        route: DirectRoute,
        key: str,
        headers: Headers,
        transport: asyncio.Transport,
        flow: FlowControl,
        default_headers: Headers,
        keep_alive: bool,
        on_response: Callable[[], None],
        logger: logging.Logger,
    ) -> None:
        self.route = route
        self.key = key
        self.headers = headers
        self.transport = transport
        self.flow = flow
        self.default_headers = default_headers
        self.keep_alive = keep_alive  # uvicorn's shutdown turns it off
        self.on_response = on_response
        self.logger = logger
        # What the protocol sets as the request arrives, and reads.
        self.body = bytearray()
        self.more_body = True
        self.message_event = asyncio.Event()
        self.disconnected = False
        self.response_complete = False

    async def run_asgi(self, app: object) -> None:
        """Read the rest of the body, answer, and hand the connection back."""
        try:
            while self.more_body and not self.disconnected:
                # The whole request usually came in the read that parsed its head.
                self.flow.resume_reading()
                await self.message_event.wait()
                self.message_event.clear()
            if self.disconnected:
                return  # nothing was done with a body that never arrived whole
            body = bytes(self.body)
            self.body = bytearray()
            try:
                status, answer = await self.route.answer(self.key, self.headers, _whole(body))
            except Exception as exc:
                # As uvicorn does when a handler raises after answering 500: logged, and
                # the connection closed.
                await self._write(500, PLAIN_500, self.route.error_headers)
                self.logger.error("Exception in ASGI application\n", exc_info=exc)
                self.transport.close()
                return
            except BaseException:  # cancelled: no answer, as uvicorn leaves none
                self.transport.close()
                raise
            await self._write(status, answer, self.route.ok_headers)
        finally:
            self.on_response = _nothing

    async def _write(self, status: int, body: bytes, headers: Headers) -> None:
        if self.flow.write_paused and not self.disconnected:
            await self.flow.drain()
        if self.disconnected:
            return
        content = [STATUS_LINE[status]]
        for name, value in self.default_headers:
            content += (name, b": ", value, b"\r\n")
        content += (b"content-length: ", str(len(body)).encode("ascii"), b"\r\n")
        for name, value in headers:
            content += (name, b": ", value, b"\r\n")
        if not self.keep_alive:
            content.append(b"connection: close\r\n")
        content += (b"\r\n", body)
        self.transport.write(b"".join(content))
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            self.transport.close()
        self.on_response()


def _whole(body: bytes) -> Receive:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def _nothing() -> None:
    pass
