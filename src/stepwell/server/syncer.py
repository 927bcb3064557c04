"""Keeping apps in sync: ping known URLs, poll them, discover apps on local ports (§3.1).

A ping is a ``PUT`` to the app's URL. The SDK answers either with its registration in the body
(in-band) or by POSTing ``/fn/register`` itself (out-of-band) before it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import httpx

from stepwell.drivers.connect.urls import is_connect_url
from stepwell.engine.apps import AppCatalog
from stepwell.protocol import signing
from stepwell.protocol.registration import RegistrationError, in_band_registration
from stepwell.server.config import DEFAULT_DISCOVERY_PORTS, DISCOVERY_PATHS, ServerConfig

log = logging.getLogger("stepwell.server.sync")


def normalise_url(url: str) -> str:
    return url if "://" in url else f"http://{url}"


class Syncer:
    def __init__(self, config: ServerConfig, catalog: AppCatalog, client: httpx.AsyncClient):
        self._config = config
        self._catalog = catalog
        self._client = client
        self._urls: list[str] = [normalise_url(u) for u in config.sdk_urls]
        self._errors: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self.first_pass = asyncio.Event()
        """Set once the first pass (after start) is done."""

    @property
    def errors(self) -> dict[str, str]:
        """The last sync error of each URL that failed."""
        return dict(self._errors)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="stepwell-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def add_url(self, url: str) -> None:
        url = normalise_url(url)
        if url not in self._urls:
            self._urls.append(url)

    async def forget(self, url: str) -> list[str]:
        """Remove the apps served at ``url`` and stop keeping ``url`` in sync; returns the
        apps' names. Both ``DELETE /fn/remove`` and GraphQL ``deleteApp`` come here: an app
        removed but still polled would sync itself back at the next pass."""
        normalised = normalise_url(url)
        if normalised in self._urls:
            self._urls.remove(normalised)
        self._errors.pop(normalised, None)
        return await self._catalog.remove_by_url(url)

    def urls(self) -> list[str]:
        """What a pass pings: the URLs given (``-u``) or added, then every synced app's (but
        Connect workers', which sync themselves when they connect)."""
        synced = [a.url for a in self._catalog.apps() if not is_connect_url(a.url)]
        return list(dict.fromkeys([*self._urls, *synced]))

    async def sync_all(self) -> None:
        """One pass: take in apps other processes changed, ping every URL, discover."""
        try:
            await self._catalog.refresh()
        except Exception:  # a sync must not stop because of one bad stored app
            log.exception("reading the synced apps failed")
        for url in self.urls():
            if url in self.urls():  # not forgotten while an earlier ping was in flight
                await self.ping(url)
        if self._config.discovery and self._config.dev and not self._catalog.apps():
            await self._discover()

    async def _loop(self) -> None:
        await self._wait_until_serving()
        while True:
            await self.sync_all()
            self.first_pass.set()
            await asyncio.sleep(self._config.poll_interval_s)

    async def _wait_until_serving(self) -> None:
        """Out-of-band syncs POST back to us: first make sure we are listening (bounded)."""
        health = f"{self._config.origin}/health"
        for _ in range(500):
            try:
                if (await self._client.get(health, timeout=1.0)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)
        log.warning("the server did not answer %s; syncing anyway", health)

    async def ping(self, url: str) -> str | None:
        """Ask the app at ``url`` to sync; returns an error message, or None on success."""
        body = json.dumps({"url": url}).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "X-Inngest-Server-Kind": self._config.server_kind,
            "X-Inngest-Sync-Kind": "in_band",
        }
        if self._config.signing_key:
            headers["X-Inngest-Signature"] = signing.signature(
                signing.canonical(body), self._config.signing_key
            )
        try:
            response = await self._client.put(url, content=body, headers=headers, timeout=10.0)
        except httpx.HTTPError as exc:
            return self._failed(url, f"could not reach the app: {type(exc).__name__}: {exc}")
        if "x-inngest-sdk" not in {k.lower() for k in response.headers}:
            return self._failed(url, f"no Inngest SDK answered ({response.status_code})")
        if response.status_code != 200:
            message = _message(response)
            return self._failed(url, f"the app refused to sync ({response.status_code}): {message}")
        if response.headers.get("x-inngest-sync-kind") == "in_band":
            try:
                await self._catalog.sync(in_band_registration(response.json()))
            except (RegistrationError, ValueError) as exc:
                return self._failed(url, str(exc))
        else:
            # The Python SDK answers 200 even when its /fn/register failed, with our body.
            reply = _json_or_none(response)
            if isinstance(reply, dict) and reply.get("error") and not reply.get("ok"):
                return self._failed(url, f"the app's sync failed: {reply['error']}")
        self._errors.pop(url, None)
        return None

    def _failed(self, url: str, message: str) -> str:
        if self._errors.get(url) != message:
            log.warning("sync of %s failed: %s", url, message)
        self._errors[url] = message
        return message

    async def _discover(self) -> None:
        """Probe the usual local ports and paths for an SDK, and ping what answers."""
        for port in DEFAULT_DISCOVERY_PORTS:
            if port == self._config.port or not await _port_open("127.0.0.1", port):
                continue
            for path in DISCOVERY_PATHS:
                url = f"http://127.0.0.1:{port}{path}"
                try:
                    response = await self._client.get(url, timeout=2.0)
                except httpx.HTTPError:
                    continue
                if "x-inngest-sdk" in {k.lower() for k in response.headers}:
                    self.add_url(url)
                    await self.ping(url)
                    break


async def _port_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 0.2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or body)
    return str(body)
