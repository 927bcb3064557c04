"""A real dev server with the dashboard and the demo app (our SDK, over HTTP on the same
port, as ``stepwell dev --app`` serves it), on a temporary SQLite file, under uvicorn."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute, Mount

import stepwell
from stepwell.dashboard import DashboardContext, dashboard_routes
from stepwell.ports.records import RunRecord
from stepwell.server.app import create_app
from stepwell.server.config import ServerConfig
from stepwell.server.runtime import ServerRuntime
from tests.integration.dashboard.demo_app import app as demo_app
from tests.integration.server.harness import _bound_socket, serving
from tests.waiting import eventually


@dataclass
class Dash:
    url: str
    runtime: ServerRuntime
    client: httpx.AsyncClient

    async def send(self, name: str, data: dict[str, Any] | None = None) -> str:
        response = await self.client.post("/e/test-key", json={"name": name, "data": data or {}})
        assert response.status_code == 200, response.text
        event_id: str = response.json()["ids"][0]
        return event_id

    async def run_of(self, event_id: str) -> RunRecord:
        found: list[RunRecord] = []

        async def started() -> bool:
            found[:] = await self.runtime.engine.list_runs(event_id=event_id)
            return bool(found)

        await eventually(started, what=f"a run of {event_id}")
        return found[0]

    async def settled(self, run_id: str, status: str, timeout: float = 10.0) -> RunRecord:
        async def reached() -> bool:
            run = await self.runtime.engine.get_run(run_id)
            return run is not None and run.status.value == status

        await eventually(reached, timeout=timeout, what=f"run {run_id} {status}")
        run = await self.runtime.engine.get_run(run_id)
        assert run is not None
        return run


@pytest.fixture
async def dash(tmp_path: Path) -> AsyncIterator[Dash]:
    sock = _bound_socket()
    port = sock.getsockname()[1]
    config = ServerConfig(
        host="127.0.0.1",
        port=port,
        database=f"sqlite:///{tmp_path / 'dash.db'}",
        discovery=False,
        retry_interval_s=0.0,
    )
    served = stepwell.serve(demo_app, is_dev=True, base_url=config.origin)
    config.sdk_urls.append(f"{config.origin}/api/inngest/")
    runtime = ServerRuntime(config)
    routes: list[BaseRoute] = [Mount("/api/inngest", served)]
    routes.extend(dashboard_routes(DashboardContext.serving(runtime)))
    url = f"http://127.0.0.1:{port}"
    async with (
        serving(create_app(runtime, extra_routes=routes), sock),
        httpx.AsyncClient(base_url=url, timeout=10.0) as client,
    ):
        await eventually(lambda: bool(runtime.catalog.apps()), what="the demo app synced")
        yield Dash(url=url, runtime=runtime, client=client)
