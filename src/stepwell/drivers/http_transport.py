"""The HTTP driver's per-step call to an app, on aiohttp (issue 15).

Every step of an app served over HTTP is one POST. Through httpx that POST cost the server
~2.85 ms of CPU (bench/PROFILE.md): anyio's stream layer, httpcore's pool scans and h11's
framing, all pure Python. bench/http_clients.py measured the client's CPU per request on this
machine (PROFILE.md): httpx 1,670 µs one at a time / 3,450 µs from 20 tasks (its pool checks
every connection), aiohttp 185-215 / 130 µs, a minimal client of our own on httptools 23 / 27 µs.
aiohttp takes ~90 % of the gain and is well kept (TLS, chunked bodies, pooling, its C parser);
the last ~0.2 ms was not worth owning an HTTP client. So aiohttp carries this call only;
step.fetch, step.ai.infer, syncs and the rest stay on httpx. With the official SDK's app the
server's CPU per step fell from 5.7-6.6 ms to 1.05-1.13 ms (bench/over_http.py, PROFILE.md).

The session is made like the server's httpx client: connect timeout 10 s, a read timeout per
chunk (a 201's keep-alive spaces keep a long call going), 100 connections at most, idle ones
kept 5 s, httpx's TLS context (certifi, SSL_CERT_FILE), HTTP(S)_PROXY / ALL_PROXY / NO_PROXY
read once, no redirects followed. One difference: no cookie jar (httpx kept an app's cookies
and sent them on every later call to that host; the protocol has no use for them).
"""

from __future__ import annotations

import asyncio
import functools
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING

import httpx

from stepwell.drivers.proxies import EnvironmentProxies

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


class TransportError(Exception):
    """No usable answer came (refused, reset, timed out, a broken body): retriable, as any
    httpx.HTTPError was. ``kind`` names what happened, in the words of the error it wraps."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class AppTransport:
    """Keep-alive connections to apps (pooled per origin), made on first use in the running
    event loop."""

    def __init__(self, *, request_timeout_s: float = 7200.0, connect_timeout_s: float = 10.0):
        self._request_timeout_s = request_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._proxies = EnvironmentProxies()

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and self._loop is loop and not self._session.closed:
            return self._session
        import aiohttp  # imported on the first call: the server starts without it

        connector = aiohttp.TCPConnector(
            limit=100,  # httpx's default pool size
            keepalive_timeout=5.0,  # httpx's keepalive_expiry
            ssl=httpx.create_ssl_context(),  # the same trust as every other call of ours
        )
        self._proxies = EnvironmentProxies()  # read once per session, as httpx does
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
        self._loop = loop
        return self._session

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        """The answer's status, its headers (lower-cased names; repeated ones joined with
        ", ", as httpx reads them) and its whole body."""
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
        if session is not None and not session.closed:
            await session.close()
