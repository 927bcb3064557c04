"""Auto-discovery (protocol.md §3.1): with no app URL given, the dev server finds an SDK
answering on one of the usual local ports and paths, and syncs it."""

from __future__ import annotations

import socket

import pytest
from starlette.applications import Starlette
from starlette.routing import Route

import stepwell
from stepwell.server.config import DEFAULT_DISCOVERY_PORTS
from tests.integration.server.harness import running_server, serving
from tests.sockets import listening_socket
from tests.waiting import eventually


def _free_discovery_port() -> socket.socket:
    """A socket bound to one of the ports the dev server scans (several may be taken)."""
    for port in (*range(8910, 8916), *range(3000, 3011), 8787, 5173):
        assert port in DEFAULT_DISCOVERY_PORTS
        try:
            sock = listening_socket(port)
        except OSError:
            continue
        return sock
    pytest.fail("every scanned port on this machine is taken")


async def test_an_app_on_a_scanned_port_is_discovered_and_synced(db_url: str) -> None:
    app = stepwell.App("found")

    @app.function("hello", trigger=stepwell.on_event("found/hello"))
    async def hello(ctx: stepwell.Context) -> str:
        return "hi"

    sock = _free_discovery_port()
    port = sock.getsockname()[1]
    async with running_server(db_url, discovery=True, poll_interval_s=0.2) as server:
        served = stepwell.serve(app, is_dev=True, base_url=server.url)
        asgi = Starlette(routes=[Route("/api/inngest", served, methods=["GET", "PUT", "POST"])])
        async with serving(asgi, sock):

            def synced() -> bool:
                return server.runtime.engine.registry.get("found-hello") is not None

            await eventually(synced, timeout=20, what="the app on a scanned port to sync")
            [event_id] = await server.send({"name": "found/hello", "data": {}})
            [run_id] = await server.runs_of(event_id)
            await server.wait_for_status(run_id, "Completed")
        apps = server.runtime.catalog.apps()
    assert [a.url for a in apps] == [f"http://127.0.0.1:{port}/api/inngest"]
