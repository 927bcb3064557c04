"""A lean HTTP/1.1 client for the server's per-step POST to an app over plain ``http://``
(issue 15).

aiohttp cost ~185-215 µs of client CPU per request here, a minimal client on asyncio
Protocols and httptools' C parser 23-27 µs (bench/http_clients.py, bench/PROFILE.md). This
one, under callgrind against uvicorn on uvloop, executes ~85,000 instructions per request
where aiohttp executed ~410,000 (the minimal one ~40,000: it reads no headers and checks
nothing); the request head (~21,000) and one callback per answer header (~16,000) are most
of the difference. This client does only what that call needs: keep-alive connections
pooled per origin (100 at most in all, idle ones dropped after 5 s), a connect timeout, a
read timeout per received chunk (a 201's keep-alive spaces keep a long call going),
Content-Length and chunked answers, no redirects, no cookies, no TLS and no proxies
(drivers/http_transport.py keeps those on aiohttp). Its failures are ``TransportError``s
named after aiohttp's errors, so the driver reports them as it did.

Under uvloop no class here derives from asyncio.Transport, and a connection does not rely
on ``connection_made`` having run when ``create_connection`` returns. The pool is
drivers/http_wire_pool.py.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, cast
from urllib.parse import urlsplit

Answer = tuple[int, dict[str, str], bytes]
"""The status, the headers (lower-cased names, repeated ones joined ", ") and the body."""

Origin = tuple[str, int]


class TransportError(Exception):
    """No usable answer came (refused, reset, timed out, a broken body): retriable, as any
    httpx.HTTPError was. ``kind`` names what happened, in the words of the error it wraps
    (aiohttp's class names, for the lean client too)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Target:
    """Where a URL's POST goes: its origin, and the head's first lines (the request line,
    Host, User-Agent)."""

    origin: Origin
    start: str


# A path or query with any of these is not sent as it is (aiohttp quotes it).
_UNSAFE = frozenset(" \t\r\n\x00")


@functools.lru_cache(maxsize=4096)
def wire_target(url: str) -> Target | None:
    """The target of a plain ``http://`` URL this client can call; None for any other (TLS,
    credentials in the URL, characters a request line cannot carry): aiohttp calls those."""
    try:
        parts = urlsplit(url)
        port = parts.port or 80
    except ValueError:
        return None
    host = parts.hostname
    netloc = parts.netloc
    if parts.scheme != "http" or not host or "@" in netloc or not netloc.isascii():
        return None
    if not _UNSAFE.isdisjoint(netloc):
        return None
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    if not path.isascii() or not _UNSAFE.isdisjoint(path):
        return None
    shown = f"[{host}]" if ":" in host else host
    authority = shown if port == 80 else f"{shown}:{port}"
    return Target(
        (host, port), f"POST {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: stepwell\r\n"
    )


def request_head(target: Target, headers: Mapping[str, str], length: int) -> bytes:
    fields = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
    head = f"{target.start}{fields}Content-Length: {length}\r\n\r\n"
    # Request line, Host, User-Agent, the caller's, Content-Length, the blank line: a CR or
    # LF inside a name or value would add lines (aiohttp refuses those with a ValueError).
    lines = len(headers) + 5
    if head.count("\n") != lines or head.count("\r") != lines:
        raise ValueError("a header name or value holds a newline or carriage return")
    return head.encode("utf-8")


State = Literal["busy", "idle", "gone"]


class WireConnection(asyncio.Protocol):
    """One keep-alive connection: a request written whole, its answer parsed by httptools
    as the bytes arrive."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        origin: Origin,
        read_timeout_s: float,
        lost_idle: Callable[[WireConnection], None],
    ) -> None:
        import httptools  # the server extra's; the server checks it is installed

        self._loop = loop
        self._lost_idle = lost_idle  # the pool's: an idle connection the app closed
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.state: State = "busy"
        self.answers = 0  # answers read on it: a reused connection may have gone stale
        self.idle_since = 0.0
        self.reusable = False
        self.stale = False  # lost before any byte of an answer: worth one retry if reused
        self._parser = httptools.HttpResponseParser(self)
        # HttpParserUpgrade is no HttpParserError; we never ask to upgrade.
        self._parse_errors = (httptools.HttpParserError, httptools.HttpParserUpgrade)
        self._answer: asyncio.Future[Answer] | None = None
        self._headers: dict[str, str] = {}
        self._chunks: list[bytes] = []
        self._received = False
        self._head_done = False
        self._last = 0.0
        self._read_timeout_s = read_timeout_s
        self._timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are no asyncio.Transport subclass; they have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._answer is None:  # bytes nobody asked for: the app is out of step with us
            self.reusable = False
            self.close()
            return
        self._received = True
        self._last = self._loop.time()
        try:
            self._parser.feed_data(data)
        except self._parse_errors as exc:
            self._fail(
                TransportError("ClientResponseError", f"the app's answer is not HTTP/1.1: {exc}")
            )

    def eof_received(self) -> bool:
        return False  # close our side too: an answer cut short is handled in connection_lost

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_timer()
        was = self.state
        self.state = "gone"
        self.reusable = False
        if self._answer is not None:
            if self._head_done and exc is None and self._ends_at_eof():
                self._complete(keep=False)
            elif not self._received:
                self.stale = True
                if exc is None:
                    self._fail(TransportError("ServerDisconnectedError", "Server disconnected"))
                else:
                    self._fail(TransportError("ClientOSError", str(exc) or type(exc).__name__))
            elif self._head_done:
                self._fail(
                    TransportError("ClientPayloadError", "Response payload is not completed")
                )
            else:
                self._fail(TransportError("ServerDisconnectedError", "Server disconnected"))
        elif was == "idle":
            self._lost_idle(self)

    # -- httptools' callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._answer is None:  # an answer after the answer: do not reuse the connection
            self.reusable = False

    def on_header(self, name: bytes, value: bytes) -> None:
        # As aiohttp reads them: trailing blanks off (llhttp keeps them), UTF-8 with
        # surrogateescape. (Joining all names and values to decode them in one go was
        # twice as slow for an SDK's ~6 headers.)
        key = name.decode("latin-1").lower()
        text = value.rstrip(b" \t").decode("utf-8", "surrogateescape")
        headers = self._headers
        headers[key] = f"{headers[key]}, {text}" if key in headers else text

    def on_headers_complete(self) -> None:
        self._head_done = True

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._answer is None:
            return
        if 100 <= self._parser.get_status_code() < 200:  # interim (100 Continue): more follows
            self._headers, self._chunks, self._head_done = {}, [], False
            return
        self._complete(keep=self._parser.should_keep_alive())

    # -- the pool's side ---------------------------------------------------------------------

    def send(self, head: bytes, body: bytes) -> asyncio.Future[Answer]:
        """Write the request (one writev under uvloop) and return its answer, to come."""
        assert self.transport is not None
        answer: asyncio.Future[Answer] = self._loop.create_future()
        self._answer = answer
        self._headers, self._chunks = {}, []
        self._received = self._head_done = self.reusable = False
        self._last = self._loop.time()
        if self._timer is None:
            # One timer per connection, not per call or chunk: when due it compares the last
            # chunk's time (or the call's start) with the timeout, and comes back if need be.
            self._timer = self._loop.call_at(self._last + self._read_timeout_s, self._check)
        self.transport.writelines((head, body))
        return answer

    def close(self) -> None:
        self._stop_timer()
        if self.transport is not None:
            self.transport.close()

    def _check(self) -> None:
        self._timer = None
        if self._answer is None:  # idle: the next call sets a timer again
            return
        due = self._last + self._read_timeout_s
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._check)
            return
        self._fail(TransportError("SocketTimeoutError", "Timeout on reading data from socket"))

    def _ends_at_eof(self) -> bool:
        """Whether the answer's body runs to the end of the connection (no length given)."""
        headers = self._headers
        return (
            "content-length" not in headers
            and "chunked" not in headers.get("transfer-encoding", "").lower()
        )

    def _complete(self, *, keep: bool) -> None:
        answer = self._answer
        assert answer is not None
        self._answer = None  # the timer, if due before the next call, finds the connection idle
        self.answers += 1
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.reusable = keep and self.state == "busy"
        if not answer.done():
            answer.set_result((self._parser.get_status_code(), self._headers, body))

    def _fail(self, error: TransportError) -> None:
        answer = self._answer
        self._answer = None
        self.reusable = False
        self.close()
        if answer is not None and not answer.done():
            answer.set_exception(error)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
