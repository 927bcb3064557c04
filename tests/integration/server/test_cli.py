"""``stepwell dev`` and ``stepwell send`` as real processes, driven over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.integration.server.conftest import hello
from tests.integration.server.harness import FakeFunction, FakeSdk, running_sdk
from tests.waiting import eventually

SRC = Path(__file__).resolve().parents[3] / "src"
ENV = {**os.environ, "PYTHONPATH": str(SRC)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def dev(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """``stepwell dev`` on a free port with a fresh SQLite file; a client for it."""
    port = free_port()
    database = f"sqlite:///{tmp_path / 'dev.db'}"
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "stepwell", "dev", "--port", str(port), "--no-discovery"),
        *("--database", database),
        cwd=tmp_path,
        env=ENV,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client:

            async def up() -> bool:
                if process.returncode is not None:
                    raise AssertionError("stepwell dev exited early")
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, timeout=20, interval=0.05, what="stepwell dev listening")
            yield client
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    # uvicorn shuts down gracefully, then re-raises SIGTERM: that is a clean exit.
    assert process.returncode in (0, -signal.SIGTERM), output.decode()


async def test_send_then_query_the_event(dev: httpx.AsyncClient) -> None:
    send = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "stepwell", "send", "cli/hello", "--data", '{"n": 1}'),
        *("--url", str(dev.base_url)),
        env=ENV,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(send.communicate(), timeout=30)
    assert send.returncode == 0, stderr.decode()
    assert '"status":200' in stdout.decode()
    query = {"query": "{ events(query: {}) { name payload } apps { id } }"}
    response = await dev.post("/v0/gql", json=query)
    assert response.json() == {
        "data": {"events": [{"name": "cli/hello", "payload": '{"n":1}'}], "apps": []}
    }


async def test_an_app_added_with_create_app_runs_functions(dev: httpx.AsyncClient) -> None:
    sdk = FakeSdk("cliapp", [FakeFunction("hello", [{"event": "cli/hello"}], hello)])
    async with running_sdk(sdk, str(dev.base_url)) as app:
        create = "mutation($url: String!) { createApp(input: {url: $url}) { name error } }"
        response = await dev.post("/v0/gql", json={"query": create, "variables": {"url": app.url}})
        assert response.json() == {"data": {"createApp": {"name": "cliapp", "error": None}}}
        [event_id] = (await dev.post("/e/key", json={"name": "cli/hello"})).json()["ids"]
        query = "query($id: ID!) { event(query: {eventId: $id}) { functionRuns { status } } }"

        async def completed() -> bool:
            body = await dev.post("/v0/gql", json={"query": query, "variables": {"id": event_id}})
            return bool(body.json()["data"]["event"]["functionRuns"] == [{"status": "COMPLETED"}])

        await eventually(completed, what="the run completes")
        [call] = app.calls_of("hello")
        assert call.body["event"]["name"] == "cli/hello"
