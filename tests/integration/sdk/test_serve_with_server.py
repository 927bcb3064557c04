"""Our SDK served over HTTP and driven by our server (``stepwell dev`` / ``stepwell start`` as
a real process): every kind of step completes, retries and failures end as they should, and in
signed mode every call is signed and checked."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import stepwell
from stepwell import Context, SyncContext
from stepwell.protocol import signing
from tests.integration.sdk.serving import free_socket, serving
from tests.waiting import eventually

REPO = Path(__file__).resolve().parents[3]
KEY_HEX = "abcd1234"
EVENT_KEY = "evk"


def _app() -> stepwell.App:
    app = stepwell.App("e2e")

    @app.function("steps", trigger=stepwell.on_event("e2e/go"))
    async def steps(ctx: Context) -> dict[str, Any]:
        a = await ctx.step.run("first step", lambda: "A")
        await ctx.step.sleep("nap", "1s")
        pair = await asyncio.gather(ctx.step.run("x", lambda: 1), ctx.step.run("y", lambda: 2))
        ids = await ctx.step.send_event("send", stepwell.Event(name="e2e/child", data={"n": 5}))
        got = await ctx.step.invoke("inv", function="e2e-child", data={"n": 7})
        waited = await ctx.step.wait_for_event("w", event="e2e/never", timeout="1s")
        return {"a": a, "pair": list(pair), "sent": len(ids), "got": got, "waited": waited}

    @app.function("child", trigger=stepwell.on_event("e2e/child"))
    def child(ctx: SyncContext) -> int:
        doubled: int = ctx.step.run("double", lambda: ctx.event.data["n"] * 2)
        return doubled

    @app.function("flaky", trigger=stepwell.on_event("e2e/flaky"), retries=3)
    async def flaky(ctx: Context) -> str:
        def body() -> str:
            if ctx.attempt < 2:
                raise ValueError("not yet")
            return f"ok on attempt {ctx.attempt}"

        return str(await ctx.step.run("f", body))

    @app.function("doomed", trigger=stepwell.on_event("e2e/doomed"), retries=1)
    async def doomed(ctx: Context) -> None:
        await ctx.step.run("always", lambda: 1 / 0)

    return app


def _port() -> int:
    sock = free_socket()
    try:
        port: int = sock.getsockname()[1]
        return port
    finally:
        sock.close()


@contextmanager
def _server(tmp_path: Path, signed: bool) -> Iterator[str]:
    port = _port()
    argv = [sys.executable, "-m", "stepwell", "start" if signed else "dev", "--port", str(port)]
    argv += ["--database", f"sqlite:///{tmp_path / 'server.db'}", "--no-discovery"]
    argv += ["--retry-interval", "0.1", "--poll-interval", "3600"]
    if signed:
        argv += ["--signing-key", KEY_HEX, "--event-key", EVENT_KEY]
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        argv, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, env={**os.environ}
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


@asynccontextmanager
async def _stack(tmp_path: Path, signed: bool) -> AsyncIterator[tuple[str, httpx.AsyncClient]]:
    """The server as a process and our app served in this loop, synced; yields the server's
    URL and a client authenticated to it."""
    headers = {"Authorization": f"Bearer {signing.hashed_key(KEY_HEX)}"} if signed else {}
    with _server(tmp_path, signed) as server:
        keys: dict[str, Any] = (
            {"signing_key": f"signkey-test-{KEY_HEX}", "event_key": EVENT_KEY} if signed else {}
        )
        served = stepwell.serve(_app(), is_dev=not signed, base_url=server, **keys)
        async with serving(served) as app_url, httpx.AsyncClient(headers=headers) as client:

            async def healthy() -> bool:
                try:
                    return (await client.get(f"{server}/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(healthy, timeout=30, what="the server to start")
            synced = await client.put(f"{app_url}/api/inngest")
            assert synced.status_code == 200, synced.text
            assert synced.json()["ok"] is True
            yield server, client


async def _run_of(client: httpx.AsyncClient, server: str, name: str) -> dict[str, Any]:
    key = EVENT_KEY
    sent = await client.post(f"{server}/e/{key}", json={"name": name, "data": {}})
    [event_id] = sent.json()["ids"]
    runs: list[dict[str, Any]] = []

    async def ended() -> bool:
        reply = await client.get(f"{server}/v1/events/{event_id}/runs")
        runs[:] = reply.json()["data"]
        return bool(runs) and runs[0]["status"] in ("Completed", "Failed", "Cancelled")

    await eventually(ended, timeout=30, what=f"the run of {name} to end")
    return runs[0]


@pytest.mark.parametrize("signed", [False, True], ids=["dev", "signed"])
async def test_every_step_kind_runs_to_the_end_against_our_server(
    tmp_path: Path, signed: bool
) -> None:
    async with _stack(tmp_path, signed) as (server, client):
        steps, flaky, doomed = await asyncio.gather(
            _run_of(client, server, "e2e/go"),
            _run_of(client, server, "e2e/flaky"),
            _run_of(client, server, "e2e/doomed"),
        )
        children = (await client.get(f"{server}/v1/events", params={"name": "e2e/child"})).json()
    assert steps["status"] == "Completed"
    assert steps["output"] == {"a": "A", "pair": [1, 2], "sent": 1, "got": 14, "waited": None}
    assert flaky["status"] == "Completed"
    assert flaky["output"] == "ok on attempt 2"
    assert doomed["status"] == "Failed"
    # The event sent from a step is ingested exactly once.
    assert [e["name"] for e in children["data"]] == ["e2e/child"]
