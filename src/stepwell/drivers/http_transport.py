"""The HTTP driver's per-step call to an app: our lean client for plain ``http://``, aiohttp
for TLS and proxies (issue 15).

Every step of an app served over HTTP is one POST. Through httpx that POST cost the server
~2.85 ms of CPU (bench/PROFILE.md): anyio's stream layer, httpcore's pool scans and h11's
framing, all pure Python. bench/http_clients.py measured the client's CPU per request on this
machine (PROFILE.md): httpx 1,670 µs one at a time / 3,450 µs from 20 tasks (its pool checks
every connection), aiohttp 185-215 / 130 µs, a minimal client of our own on httptools 23 / 27 µs.
aiohttp took the server's CPU per step with the official SDK's app from 5.7-6.6 ms to
1.05-1.13 ms; what it still cost was then the largest share left of ~0.75 ms per step. So a
plain ``http://`` URL no proxy applies to (apps on this machine or a private network: the
common case) goes through drivers/http_wire.py, asyncio Protocols and httptools' C parser,
which took it to 0.48-0.70 ms against 0.80-1.07 ms in the same session (bench/over_http.py,
20 runs at once, alternating with the aiohttp build on a loaded machine).
https and proxied URLs stay on aiohttp, which keeps TLS and proxies well.

Both are made like the server's httpx client: connect timeout 10 s, a read timeout per chunk
(a 201's keep-alive spaces keep a long call going), 100 connections at most, idle ones kept
5 s, no redirects followed; aiohttp has httpx's TLS context (certifi, SSL_CERT_FILE), and
HTTP(S)_PROXY / ALL_PROXY / NO_PROXY are read once per event loop. One difference: no cookie
jar (httpx kept an app's cookies and sent them on every later call to that host; the
protocol has no use for them).
"""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

import httpx

from stepwell.drivers.http_wire import Answer, Target, TransportError, wire_target
from stepwell.drivers.http_wire_pool import WirePool
from stepwell.drivers.proxies import EnvironmentProxies

__all__ = ["AppTransport", "TransportError", "with_step_query"]

if TYPE_CHECKING:
    import aiohttp


@functools.lru_cache(maxsize=4096)
def with_step_query(url: str, step_id: str) -> str:
    """The function's URL with ``stepId`` set, its query sorted (cached: every call of a run
    asks again, and httpx's URL parsing was ~5 % of the server's CPU per step)."""
    parsed = httpx.URL(url)
    params = dict(parsed.params)
    params["stepId"] = step_id
    return str(parsed.copy_with(params=dict(sorted(params.items()))))


class AppTransport:
    """Keep-alive connections to apps (pooled per origin), made on first use in the running
    event loop: the lean client's for plain ``http://``, aiohttp's for the rest."""

    def __init__(self, *, request_timeout_s: float = 7200.0, connect_timeout_s: float = 10.0):
        self._request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: aiohttp.ClientSession | None = None
        self._pool: WirePool | None = None
        self._proxies = EnvironmentProxies()
        self._direct: dict[tuple[str, int], bool] = {}  # per origin: no proxy applies

    def _in_loop(self) -> asyncio.AbstractEventLoop:
        """The running loop; a new one (or the first) starts afresh, the environment's
        proxies read again, as httpx reads them once per client."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._session = self._pool = None
            self._proxies = EnvironmentProxies()
            self._direct = {}
        return loop

    def _wire(self, url: str) -> tuple[WirePool, Target] | None:
        """The lean client and where to send, for a plain ``http://`` URL without a proxy."""
        loop = self._in_loop()
        target = wire_target(url)
        if target is None:
            return None
        direct = self._direct.get(target.origin)
        if direct is None:
            direct = self._direct[target.origin] = self._proxies.for_url(url) is None
        if not direct:
            return None
        pool = self._pool
        if pool is None:
            pool = self._pool = WirePool(
                loop,
                limit=100,  # httpx's default pool size
                keepalive_s=5.0,  # httpx's keepalive_expiry
                connect_timeout_s=self._connect_timeout_s,
                read_timeout_s=self._request_timeout_s,
            )
        return pool, target

    def _open(self) -> aiohttp.ClientSession:
        self._in_loop()
        if self._session is not None and not self._session.closed:
            return self._session
        import aiohttp  # imported on the first call: the server starts without it

        connector = aiohttp.TCPConnector(
            limit=100,  # httpx's default pool size
            keepalive_timeout=5.0,  # httpx's keepalive_expiry
            ssl=httpx.create_ssl_context(),  # the same trust as every other call of ours
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(
                total=None,
                # Waiting for a free connection, as httpx's pool timeout (the request's).
                connect=self._request_timeout_s,
                sock_connect=self._connect_timeout_s,
                sock_read=self._request_timeout_s,
            ),
            # h11 accepts a 16 KB head; aiohttp's default is 8 KB per line.
            max_line_size=16384,
            max_field_size=16384,
        )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        """The answer's status, its headers (lower-cased names; repeated ones joined with
        ", ", as httpx reads them) and its whole body."""
        wire = self._wire(url)
        if wire is not None:
            pool, target = wire
            return await pool.post(target, body, headers)
        return await self._post_aiohttp(url, body, headers)

    async def _post_aiohttp(self, url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        import aiohttp

        session = self._open()
        # Past 1 MiB aiohttp warns about raw bytes (ResourceWarning) and asks for a BytesIO,
        # which it writes in chunks, still with a Content-Length.
        data = io.BytesIO(body) if len(body) > 1 << 20 else body
        try:
            async with session.post(
                url,
                data=data,
                headers=headers,
                allow_redirects=False,
                proxy=self._proxies.for_url(url),
            ) as response:
                content = await response.read()
                merged: dict[str, str] = {}
                for name, value in response.headers.items():
                    key = name.lower()
                    merged[key] = f"{merged[key]}, {value}" if key in merged else value
                return response.status, merged, content
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransportError(type(exc).__name__, str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        session, self._session = self._session, None
        pool, self._pool = self._pool, None
        self._loop = None  # the next call reads the environment's proxies again
        if pool is not None:
            await pool.aclose()
        if session is not None and not session.closed:
            await session.close()
