"""Real HTTP for the serve tests: run ASGI apps on loopback, a fake Inngest API that records what
the app sends it, and the calls an executor makes (protocol.md §5.1)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from tests.sockets import listening_socket
from tests.waiting import eventually

EVENT = {"name": "test/go", "data": {"x": 1}, "id": "evt-1", "ts": 1700000000000, "user": {}}


def free_socket() -> socket.socket:
    return listening_socket()


@asynccontextmanager
async def serving(app: ASGIApp, **config: Any) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port, in this event loop; ``config``:
    more of ``uvicorn.Config``'s settings."""
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", **config))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started or task.done(), what="uvicorn start")
        assert not task.done(), "uvicorn stopped at start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


@asynccontextmanager
async def client_for(app: ASGIApp) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """``app`` served on loopback, and a client for it: (its base URL, the client)."""
    async with serving(app) as url, httpx.AsyncClient(timeout=30) as client:
        yield url, client


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    peer: tuple[str, int] | None = None
    """The client's address and port: requests on one kept-alive connection share it."""


@dataclass
class FakeInngest:
    """``/fn/register``, ``/e/{key}`` and ``/v0/runs/…`` as a server answers them; every request
    is recorded. ``register_reply`` sets the status and body of the next syncs."""

    requests: list[Recorded] = field(default_factory=list)
    register_reply: tuple[int, Any] = (200, {"ok": True, "modified": True, "app_id": "a"})
    refuse_keys: set[str] = field(default_factory=set)
    """Bearer tokens to answer 401 (to test the fallback signing key)."""
    run_state: dict[str, Any] = field(default_factory=dict)
    hold_checkpoints: asyncio.Event | None = None
    """While set to an unset event, checkpoint requests are recorded but not yet answered."""

    def of(self, path_start: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(path_start)]

    def asgi(self) -> Starlette:
        async def record(request: Request) -> Recorded:
            raw = await request.body()
            entry = Recorded(
                request.method,
                request.url.path,
                dict(request.query_params),
                dict(request.headers),
                json.loads(raw) if raw else None,
                (request.client.host, request.client.port) if request.client else None,
            )
            self.requests.append(entry)
            return entry

        async def register(request: Request) -> Response:
            entry = await record(request)
            if entry.headers.get("authorization", "").removeprefix("Bearer ") in self.refuse_keys:
                return JSONResponse({"error": "Authentication failed"}, status_code=401)
            status, body = self.register_reply
            return JSONResponse(body, status_code=status)

        async def events(request: Request) -> Response:
            entry = await record(request)
            batch = entry.body if isinstance(entry.body, list) else [entry.body]
            ids = [f"ulid-{len(self.of('/e/'))}-{i}" for i in range(len(batch))]
            return JSONResponse({"ids": ids, "status": 200})

        async def runs(request: Request) -> Response:
            await record(request)
            kind = request.path_params["kind"]
            return JSONResponse(self.run_state[kind])

        async def checkpoint(request: Request) -> Response:
            entry = await record(request)
            if self.hold_checkpoints is not None:
                await self.hold_checkpoints.wait()
            if entry.headers.get("authorization", "").removeprefix("Bearer ") in self.refuse_keys:
                return JSONResponse({"error": "Authentication failed"}, status_code=401)
            return JSONResponse({"status": 200})

        return Starlette(
            routes=[
                Route("/v1/checkpoint/{run_id}/async", checkpoint, methods=["POST"]),
                Route("/fn/register", register, methods=["POST"]),
                Route("/e/{key}", events, methods=["POST"]),
                Route("/v0/runs/{run_id}/{kind}", runs, methods=["GET"]),
            ]
        )


def call_body(
    steps: dict[str, Any] | None = None,
    *,
    attempt: int = 0,
    max_attempts: int | None = None,
    die: bool = False,
    event: dict[str, Any] | None = None,
    run_id: str = "01RUN",
    use_api: bool = False,
) -> dict[str, Any]:
    """A call request as the Go executor builds it (§5.1)."""
    memo = dict(steps or {})
    ctx: dict[str, Any] = {
        "attempt": attempt,
        "disable_immediate_execution": die,
        "env": "",
        "run_id": run_id,
        "stack": {"current": len(memo), "stack": list(memo)},
        "step_id": "step",
        "use_api": use_api,
    }
    if max_attempts is not None:
        ctx["max_attempts"] = max_attempts
    trigger = event or EVENT
    return {
        "ctx": ctx,
        "event": trigger,
        "events": [] if use_api else [trigger],
        "steps": {} if use_api else memo,
        "use_api": use_api,
        "version": 2,
    }


class Executor:
    """Makes the calls a server makes to one served function."""

    def __init__(self, client: httpx.AsyncClient, url: str, fn_slug: str) -> None:
        self.client = client
        self.url = url
        self.fn_slug = fn_slug
        self.calls = 0

    async def call(
        self, steps: dict[str, Any] | None = None, *, step: str = "step", **kwargs: Any
    ) -> httpx.Response:
        self.calls += 1
        return await self.client.post(
            self.url,
            params={"fnId": self.fn_slug, "stepId": step},
            json=call_body(steps, **kwargs),
        )

    async def drive(self, *, max_attempts: int = 5, max_calls: int = 50) -> httpx.Response:
        """Run the function to its end as a server would: store results, run planned steps
        (targeted, ``disable_immediate_execution``), retry step errors at once, wake sleeps at
        once and time waits out."""
        memo: dict[str, Any] = {}
        attempt = 0
        for _ in range(max_calls):
            response = await self.call(memo, attempt=attempt, max_attempts=max_attempts)
            if response.status_code != 206:
                return response
            ops = response.json()
            if any(op["op"] == "StepError" for op in ops):
                attempt += 1  # the same call again, as the server retries a job
                continue
            attempt = 0
            for op in ops:
                if op["op"] == "StepPlanned":
                    op = await self._run_planned(op["id"], memo, max_attempts)
                _store(op, memo)
        raise AssertionError(f"{self.fn_slug} did not finish within {max_calls} calls")

    async def _run_planned(
        self, step: str, memo: dict[str, Any], max_attempts: int
    ) -> dict[str, Any]:
        for attempt in range(max_attempts):
            response = await self.call(
                memo, step=step, die=True, attempt=attempt, max_attempts=max_attempts
            )
            assert response.status_code == 206, response.text
            [op] = response.json()
            if op["op"] != "StepError":
                return dict(op)
        raise AssertionError(f"planned step {step} still failing after {max_attempts} attempts")


def _store(op: dict[str, Any], memo: dict[str, Any]) -> None:
    if op["op"] == "StepRun":
        memo[op["id"]] = {"data": op["data"]}
    elif op["op"] == "StepFailed":
        memo[op["id"]] = {"error": op["error"]}
    else:  # Sleep done, WaitForEvent timed out, InvokeFunction of a child returning None
        memo[op["id"]] = None
