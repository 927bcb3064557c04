"""Everything a server process runs, assembled: store, engine, drivers, app catalog, syncer."""

from __future__ import annotations

import asyncio
import contextlib

import httpx

from stepwell.core.backoff import Backoff, FixedBackoff
from stepwell.drivers.connect.driver import ConnectDriver
from stepwell.drivers.connect.hub import Hub
from stepwell.drivers.http import HttpDriver
from stepwell.drivers.inprocess import InProcessDriver
from stepwell.drivers.router import RoutingDriver
from stepwell.engine.apps import AppCatalog
from stepwell.engine.engine import Engine
from stepwell.engine.registry import Registry
from stepwell.ports.clock import SystemClock
from stepwell.protocol import signing
from stepwell.server import observability
from stepwell.server.checkpoints import Checkpoints
from stepwell.server.config import ServerConfig
from stepwell.server.syncer import Syncer
from stepwell.store import open_connect_relay, open_store
from stepwell.telemetry import setup as telemetry_setup


class ServerRuntime:
    def __init__(
        self,
        config: ServerConfig,
        *,
        inprocess: InProcessDriver | None = None,
        executes: bool = True,
    ) -> None:
        """``executes=False``: look and act only (``stepwell ui`` on a shared database); the
        processes that serve the apps run the work."""
        self.config = config
        clock = SystemClock()
        registry = Registry()
        store = open_store(config.database)
        key = config.signing_key
        self.client = httpx.AsyncClient(timeout=httpx.Timeout(7200.0, connect=10.0))
        self.http_driver = HttpDriver(
            signer=(lambda body: signing.signature(body, key)) if key else None,
            client=self.client,
        )
        self.connect_hub = Hub(lease_s=config.connect_lease_s)
        self.connect_driver = ConnectDriver(
            self.connect_hub, worker_wait_s=max(10.0, config.connect_lease_s), client=self.client
        )
        telemetry = telemetry_setup.build(metrics=True)  # logs, /metrics, OTEL_* traces
        telemetry_setup.install(telemetry, store, [self.http_driver])
        backoff: Backoff | None = (
            FixedBackoff(config.retry_interval_s) if config.retry_interval_s is not None else None
        )
        self.engine = Engine(
            store=store,
            registry=registry,
            driver=RoutingDriver(
                inprocess=inprocess, http=self.http_driver, connect=self.connect_driver
            ),
            clock=clock,
            backoff=backoff,
            max_event_bytes=config.max_event_bytes,
            lease_ms=int(config.lease_s * 1000),
            retention_ms=config.retention_ms,
            executes=executes,
            telemetry=telemetry,
        )
        # Several processes on PostgreSQL: calls reach workers whose sockets another one holds,
        # and checkpoints the process whose call they belong to.
        self.connect_relay = (
            open_connect_relay(config.database, process_id=self.engine.owner) if executes else None
        )
        self.connect_driver.relay = self.connect_relay
        self.checkpoints = Checkpoints(
            self.http_driver,
            self.connect_driver,
            store,
            relay=self.connect_relay,
            owner=self.engine.owner,
        )
        self.catalog = AppCatalog(registry, store, clock, on_change=self.engine.after_sync)
        self.syncer = Syncer(config, self.catalog, self.client)
        self._announcing: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.engine.start(on_open=self.catalog.load)
        if self.connect_relay is not None:
            hub = self.connect_hub
            await self.connect_relay.start(
                self.checkpoints.serve_forwarded,
                lambda: {slug for link in hub.links() if not link.closed for slug in link.slugs},
            )
        self.syncer.start()
        self._announcing = asyncio.create_task(self._announce(), name="stepwell-banner")

    async def _announce(self) -> None:
        """The banner, once the first sync pass is done (so it can name the apps), or after
        a few seconds if that pass is slow."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.syncer.first_pass.wait(), 10.0)
        apps = {a.name: len(self.engine.registry.of_app(a.name)) for a in self.catalog.apps()}
        urls = {a.url for a in self.catalog.apps()}
        pending = [url for url in self.syncer.urls() if url not in urls]
        traces = telemetry_setup.has_traces(self.engine.telemetry)
        observability.banner(self.config, apps, pending, traces)

    async def stop(self) -> None:
        if self._announcing is not None:
            self._announcing.cancel()
        await self.syncer.stop()
        await self.engine.stop()
        if self.connect_relay is not None:
            await self.connect_relay.stop()
        await self.http_driver.close_transport()
        await self.client.aclose()
