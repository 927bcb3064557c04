"""Real servers on loopback for the server tests: Stepwell itself, and a tiny fake SDK app.

``running_server`` starts the ASGI app of ``stepwell dev``/``stepwell start`` under uvicorn on
a socket bound to a free port. ``FakeSdk`` is an app written directly against the wire
protocol (protocol.md §3, §5.2): it registers over ``POST /fn/register`` when pinged, and
answers calls with the replies of per-function handlers. Both are real HTTP peers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from stepwell.server.app import create_app
from stepwell.server.config import ServerConfig
from stepwell.server.listener import uvicorn_config
from stepwell.server.runtime import ServerRuntime
from tests.sockets import listening_socket
from tests.waiting import eventually

SDK_HEADERS = {"X-Inngest-SDK": "inngest-py:v0.5.19", "X-Inngest-Req-Version": "2"}
START_TIMEOUT_S = 10.0


def step_hash(step_id: str) -> str:
    """The hashed id of the first step with this id (protocol.md §5.5)."""
    return hashlib.sha1(step_id.encode("utf-8")).hexdigest()


def _bound_socket() -> socket.socket:
    return listening_socket()


class _Uvicorn(uvicorn.Server):
    """Leaves signal handling to pytest: several servers run in one process here."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, sock: socket.socket) -> AsyncIterator[None]:
    """Serve ``app`` under uvicorn on ``sock`` until the block ends."""
    server = _Uvicorn(uvicorn_config(app))  # as ``stepwell dev`` runs it
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(
            lambda: server.started or task.done(), timeout=START_TIMEOUT_S, what="server start"
        )
        if task.done():
            task.result()  # re-raise why it did not start
            raise RuntimeError("the server stopped during startup")
        yield
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15.0)
        sock.close()


@dataclass
class Server:
    url: str
    runtime: ServerRuntime
    client: httpx.AsyncClient

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, **headers: str
    ) -> dict[str, Any]:
        """Run a GraphQL request that must succeed without errors; returns ``data``."""
        response = await self.client.post(
            "/v0/gql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body = response.json()
        assert response.status_code == 200, body
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def send(self, *events: dict[str, Any]) -> list[str]:
        response = await self.client.post("/e/test-key", json=list(events))
        assert response.status_code == 200, response.text
        ids: list[str] = response.json()["ids"]
        return ids

    async def run_status(self, run_id: str) -> str:
        response = await self.client.get(f"/v1/runs/{run_id}")
        assert response.status_code == 200, response.text
        status: str = response.json()["data"]["status"]
        return status

    async def wait_for_status(self, run_id: str, status: str, timeout: float = 10.0) -> None:
        async def reached() -> bool:
            return await self.run_status(run_id) == status

        await eventually(reached, timeout=timeout, what=f"run {run_id} {status}")

    async def runs_of(self, event_id: str, count: int = 1, timeout: float = 10.0) -> list[str]:
        """The ids of the runs an event started, once there are ``count`` of them."""
        found: list[str] = []

        async def enough() -> bool:
            nonlocal found
            response = await self.client.get(f"/v1/events/{event_id}/runs")
            found = [run["run_id"] for run in response.json()["data"]]
            return len(found) >= count

        await eventually(enough, timeout=timeout, what=f"{count} run(s) of event {event_id}")
        return found


@contextlib.asynccontextmanager
async def running_server(db_url: str, **options: Any) -> AsyncIterator[Server]:
    """A Stepwell server on a free loopback port: dev mode unless options say otherwise."""
    sock = _bound_socket()
    port = sock.getsockname()[1]
    options.setdefault("discovery", False)
    options.setdefault("poll_interval_s", 3600.0)
    config = ServerConfig(host="127.0.0.1", port=port, database=db_url, **options)
    runtime = ServerRuntime(config)
    url = f"http://127.0.0.1:{port}"
    async with (
        serving(create_app(runtime), sock),
        httpx.AsyncClient(base_url=url, timeout=10.0) as client,
    ):
        yield Server(url=url, runtime=runtime, client=client)


# -- the fake SDK -----------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[dict[str, Any]], Reply]
"""What a function does with one call: the request body in, the SDK's answer out."""

StepHandler = Callable[[dict[str, Any], str], Reply]
"""A handler also given the call's ``stepId`` (``step`` for discovery, else a hashed step id)."""


def _no_handler(body: dict[str, Any]) -> Reply:
    raise AssertionError("a FakeFunction needs a handler or a step_handler")


def ops(*items: dict[str, Any]) -> Reply:
    return Reply(206, list(items))


def step_run(step_id: str, data: Any) -> dict[str, Any]:
    return {
        "op": "StepRun",
        "id": step_hash(step_id),
        "name": step_id,
        "displayName": step_id,
        "data": data,
        "opts": None,
    }


@dataclass
class FakeFunction:
    local_id: str
    triggers: list[dict[str, Any]]
    handler: Handler = _no_handler
    name: str = ""
    retries: int = 0
    step_handler: StepHandler | None = None
    """Answers instead of ``handler`` when set (for functions with targeted calls)."""


@dataclass
class Call:
    fn_id: str
    step_id: str
    body: dict[str, Any]


class FakeSdk:
    """An app served at ``<url>`` that speaks the SDK side of the protocol."""

    def __init__(self, app_name: str, functions: list[FakeFunction]) -> None:
        self.app_name = app_name
        self.functions = {f"{app_name}-{fn.local_id}": fn for fn in functions}
        self.calls: list[Call] = []
        self.sync_replies: list[Any] = []
        self.url = ""
        self.server_url = ""

    def registration(self) -> dict[str, Any]:
        """The body the Python SDK would POST to ``/fn/register`` (§3.3)."""
        return {
            "appname": self.app_name,
            "deploy_type": "ping",
            "framework": "starlette",
            "sdk": "py:v0.5.19",
            "url": self.url,
            "v": "0.1",
            "capabilities": {"trust_probe": "v1", "connect": "v1"},
            "functions": [
                {
                    "id": slug,
                    "name": fn.name or fn.local_id,
                    "triggers": fn.triggers,
                    "steps": {
                        "step": {
                            "id": "step",
                            "name": "step",
                            "retries": {"attempts": fn.retries},
                            "runtime": {
                                "type": "http",
                                "url": f"{self.url}?fnId={slug}&stepId=step",
                            },
                        }
                    },
                }
                for slug, fn in self.functions.items()
            ],
        }

    async def sync(self) -> Any:
        """Ask the app to sync, as a developer's ``curl -X PUT`` does; returns its answer."""
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.put(self.url)
        assert response.status_code == 200, response.text
        return response.json()

    def calls_of(self, local_id: str) -> list[Call]:
        slug = f"{self.app_name}-{local_id}"
        return [call for call in self.calls if call.fn_id == slug]

    def asgi(self) -> Starlette:
        async def sync(request: Request) -> Response:
            async with httpx.AsyncClient(timeout=10.0) as client:
                registered = await client.post(
                    f"{self.server_url}/fn/register",
                    json=self.registration(),
                    headers={**SDK_HEADERS, "X-Inngest-Framework": "starlette"},
                )
            self.sync_replies.append(registered.json())
            return Response(
                registered.content,
                200,
                headers={**SDK_HEADERS, "x-inngest-sync-kind": "out_of_band"},
                media_type="application/json",
            )

        async def call(request: Request) -> Response:
            body = json.loads(await request.body())
            fn_id = request.query_params.get("fnId", "")
            step = request.query_params.get("stepId", "")
            self.calls.append(Call(fn_id, step, body))
            fn = self.functions.get(fn_id)
            if fn is None:
                reply = Reply(500, {"code": "function_not_found", "message": fn_id})
            elif fn.step_handler is not None:
                reply = fn.step_handler(body, step)
            else:
                reply = fn.handler(body)
            return JSONResponse(reply.body, reply.status, headers={**SDK_HEADERS, **reply.headers})

        async def inspect(request: Request) -> Response:
            return JSONResponse(
                {"schema_version": "2024-05-24", "mode": "dev", "function_count": 1},
                headers=SDK_HEADERS,
            )

        return Starlette(
            routes=[
                Route("/api/inngest", sync, methods=["PUT"]),
                Route("/api/inngest", call, methods=["POST"]),
                Route("/api/inngest", inspect, methods=["GET"]),
            ]
        )


@contextlib.asynccontextmanager
async def running_sdk(sdk: FakeSdk, server_url: str) -> AsyncIterator[FakeSdk]:
    """Serve ``sdk`` on a free loopback port, registering with the server at ``server_url``."""
    sock = _bound_socket()
    sdk.url = f"http://127.0.0.1:{sock.getsockname()[1]}/api/inngest"
    sdk.server_url = server_url
    async with serving(sdk.asgi(), sock):
        yield sdk
