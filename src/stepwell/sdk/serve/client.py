"""Calls a served app makes to its server: sync (``/fn/register``), send events (``/e/{key}``),
fetch a large run's state (``/v0/runs/{id}/…``, protocol.md §5.9) and checkpoint steps
(``/v1/checkpoint/{id}/async``, §5.11).

A new ``httpx.AsyncClient`` per call: the Flask and Django adapters run each request on its own
event loop, and an async client's connections belong to the loop that opened them. Checkpoints
are the exception under ASGI, where one loop serves every request: there the calls share one
client (``checkpoint_http``), since making one costs ~0.3-0.5 ms of the app's CPU and a new
connection, and with 20 calls arriving at once that stalled every run's steps for ~10 ms.

Checkpoints go through aiohttp (``CheckpointHttp``), as the server's calls to apps do
(``drivers.http_transport``): a POST of a 30 KB batch cost the app ~1.0-1.4 ms of CPU through
httpx and ~0.16 ms through aiohttp here, and a call of 500 fast steps sends several.
"""

from __future__ import annotations

import asyncio
import base64
import random
import secrets
import ssl
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from stepwell.drivers.proxies import EnvironmentProxies
from stepwell.protocol import signing
from stepwell.protocol.events import Event
from stepwell.sdk.serve.config import ServeConfig
from stepwell.sdk.serve.messages import sdk_headers

SEND_ATTEMPTS = 5
SEND_BACKOFF_S = 0.1
TIMEOUT_S = 30.0


class ApiError(Exception):
    """The server could not be reached or refused a call."""


class CheckpointHttp:
    """Keep-alive connections for checkpoint POSTs, on the event loop that made it.

    Made as our httpx clients are: httpx's TLS context (certifi, ``SSL_CERT_FILE``), the
    ``HTTP(S)_PROXY``/``ALL_PROXY``/``NO_PROXY`` environment read once, redirects not followed,
    ``timeout_s`` for the whole request; no cookie jar (the route sets none)."""

    def __init__(self, tls: ssl.SSLContext, timeout_s: float) -> None:
        import aiohttp  # only once a call checkpoints: ``import stepwell`` stays light

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=100, keepalive_timeout=5.0, ssl=tls),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        )
        self._proxies = EnvironmentProxies()

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """The answer's status; ``ApiError`` when none came (refused, reset, timed out)."""
        import aiohttp

        try:
            async with self._session.post(
                url,
                data=body,
                headers=headers,
                allow_redirects=False,
                proxy=self._proxies.for_url(url),
            ) as response:
                await response.read()  # all of it: the connection is then free for the next
                return response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(f"failed request to {url}: {type(exc).__name__} {exc}") from exc

    async def aclose(self) -> None:
        if not self._session.closed:
            await self._session.close()


class ApiClient:
    def __init__(self, config: ServeConfig, framework: str, *, one_loop: bool = False) -> None:
        """``one_loop``: every request is served on one long-lived event loop (ASGI)."""
        self._config = config
        self._framework = framework
        self._one_loop = one_loop
        self._shared: tuple[asyncio.AbstractEventLoop, CheckpointHttp] | None = None

    async def checkpoint_http(self, timeout_s: float) -> tuple[CheckpointHttp, bool]:
        """A client for one call's checkpoints, and whether the call owns it (closes it)."""
        tls = _TLS[0] if _TLS else await asyncio.to_thread(_tls_context)
        if not self._one_loop:
            return CheckpointHttp(tls, timeout_s), True
        loop = asyncio.get_running_loop()
        if self._shared is None or self._shared[0] is not loop:
            # A client of another loop (one that ended) cannot be used or closed here.
            self._shared = (loop, CheckpointHttp(tls, timeout_s))
        return self._shared[1], False

    def _headers(
        self, extra: Mapping[str, str] | None = None, *, framework: str | None = None
    ) -> dict[str, str]:
        return {**sdk_headers(framework=framework, env=self._config.env), **(extra or {})}

    async def _authed(
        self, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
    ) -> httpx.Response:
        """Send with the signing key; on 401/403 try once more with the fallback key (§6.3)."""
        headers: dict[str, str] = kwargs.pop("headers")
        keys: list[str | None] = list(self._config.signing_keys) or [None]
        response: httpx.Response | None = None
        for key in keys:
            if key is not None:
                headers["Authorization"] = f"Bearer {signing.hashed_key(key)}"
            try:
                response = await client.request(method, url, headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                raise ApiError(f"failed request to {url}: {exc}") from exc
            if response.status_code not in (401, 403):
                break
        assert response is not None
        return response

    async def register(
        self, payload: dict[str, Any], *, deploy_id: str | None, server_kind: str | None
    ) -> httpx.Response:
        extra = {"X-Inngest-Expected-Server-Kind": server_kind} if server_kind else None
        headers = self._headers(extra, framework=self._framework)
        url = urljoin(self._config.api_origin, "/fn/register")
        params = {"deployId": deploy_id} if deploy_id else None
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            return await self._authed(
                client, "POST", url, headers=headers, json=payload, params=params
            )

    async def send_events(self, events: Sequence[Event | Mapping[str, Any]]) -> list[str]:
        """Post events to the event API; returns the server's ids, in order."""
        url = urljoin(self._config.event_origin, f"/e/{self._config.event_key_for_sending()}")
        now = int(time.time() * 1000)
        body = [_outgoing(event, now) for event in events]
        # The seed lets the server derive the same ids if this request is retried (§2.3).
        seed = f"{now},{base64.b64encode(secrets.token_bytes(10)).decode()}"
        headers = self._headers({"X-Inngest-Event-Id-Seed": seed})
        response: httpx.Response | None = None
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            for attempt in range(SEND_ATTEMPTS):
                try:
                    response = await client.post(url, headers=headers, json=body)
                except httpx.HTTPError:
                    response = None
                if response is not None and response.status_code < 500:
                    break
                await asyncio.sleep(SEND_BACKOFF_S * 2**attempt * (1 + random.random()))
        if response is None:
            raise ApiError(f"could not send events to {url}")
        try:
            result = response.json()
        except ValueError:
            raise ApiError(f"event API answered {response.status_code} without JSON") from None
        if not isinstance(result, dict) or result.get("error") or response.status_code >= 400:
            error = result.get("error") if isinstance(result, dict) else None
            raise ApiError(f"event API refused the events ({response.status_code}): {error}")
        ids = result.get("ids")
        if not isinstance(ids, list):
            raise ApiError("event API answered without ids")
        return [str(i) for i in ids]

    async def run_state(self, run_id: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """A run's events and memoised steps, for requests too large to carry them."""
        async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
            batch, actions = await asyncio.gather(
                self._get_json(client, f"/v0/runs/{run_id}/batch"),
                self._get_json(client, f"/v0/runs/{run_id}/actions"),
            )
        if not isinstance(batch, list) or not isinstance(actions, dict):
            raise ApiError("run state from the API has the wrong shape")
        return batch, actions

    async def checkpoint_steps(self, client: CheckpointHttp, run_id: str, body: bytes) -> int:
        """POST one batch of a call's finished steps (``sdk.serve.checkpointer``) with the
        signing key, as the route requires outside dev mode; the status it answered. On
        401/403 once more with the fallback key (§6.3), as every other call of ours.

        ``client`` is the call's (``checkpoint_http``): one connection for all its batches."""
        url = urljoin(self._config.api_origin, f"/v1/checkpoint/{quote(run_id, safe='')}/async")
        headers = self._headers()
        status = 0
        keys: list[str | None] = list(self._config.signing_keys) or [None]
        for key in keys:
            if key is not None:
                headers["Authorization"] = f"Bearer {signing.hashed_key(key)}"
            status = await client.post(url, body, headers)
            if status not in (401, 403):
                break
        return status

    async def _get_json(self, client: httpx.AsyncClient, path: str) -> Any:
        url = urljoin(self._config.api_origin, path)
        response = await self._authed(client, "GET", url, headers=self._headers())
        if response.status_code >= 400:
            raise ApiError(f"GET {url} answered {response.status_code}: {response.text[:200]}")
        return response.json()


_TLS: list[ssl.SSLContext] = []


def _tls_context() -> ssl.SSLContext:
    """What ``httpx`` verifies servers with by default, made once per process: loading the CA
    bundle takes tens of ms, so the first call does it off the event loop."""
    if not _TLS:
        _TLS.append(httpx.create_ssl_context())
    return _TLS[0]


def _outgoing(event: Event | Mapping[str, Any], now_ms: int) -> dict[str, Any]:
    """An event as the Python SDK sends it: no empty id, ``ts`` defaulted to now."""
    wire = event.to_wire() if isinstance(event, Event) else dict(event)
    if not wire.get("id"):
        wire.pop("id", None)
    if not wire.get("ts"):
        wire["ts"] = now_ms
    return wire
