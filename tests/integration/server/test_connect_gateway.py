"""The Connect gateway's handshake on a real server: what it answers, and what it refuses.

The happy paths run with the official SDK in ``tests/e2e/test_connect_official.py``; here a
hand-driven WebSocket client sends what an SDK would not.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import websockets

from stepwell.protocol import signing
from stepwell.protocol.connect_wire import PROTOCOL, Kind, decode, encode, frame, read_frame
from stepwell.server.app import create_app
from stepwell.server.config import ServerConfig
from stepwell.server.connect_gateway import with_gateway
from stepwell.server.listener import uvicorn_config
from stepwell.server.runtime import ServerRuntime
from tests.integration.server.harness import _Uvicorn
from tests.sockets import listening_socket
from tests.waiting import eventually

KEY = "signkey-prod-" + "ab" * 32
FUNCTION = {
    "id": "wapp-hello",
    "name": "hello",
    "triggers": [{"event": "w/hello"}],
    "steps": {
        "step": {
            "id": "step",
            "name": "step",
            "runtime": {"type": "ws", "url": "wss://connect?fnId=wapp-hello&stepId=step"},
        }
    },
}


@dataclass
class Gateway:
    client: httpx.AsyncClient
    ws_url: str


def _socket() -> socket.socket:
    return listening_socket()


@contextlib.asynccontextmanager
async def gateway(db_url: str, *, dev: bool) -> AsyncIterator[Gateway]:
    api, ws = _socket(), _socket()
    config = ServerConfig(
        dev=dev,
        port=api.getsockname()[1],
        connect_port=ws.getsockname()[1],
        database=db_url,
        discovery=False,
        poll_interval_s=3600.0,
        signing_key=None if dev else KEY,
        event_keys=[] if dev else ["event-key"],
    )
    runtime = ServerRuntime(config)
    # As ``stepwell dev`` runs it: WebSocket upgrades go through the server's HTTP protocol.
    server = _Uvicorn(uvicorn_config(with_gateway(create_app(runtime), runtime)))
    task = asyncio.create_task(server.serve(sockets=[api, ws]))
    try:
        await eventually(lambda: server.started, timeout=10.0, what="server start")
        async with httpx.AsyncClient(base_url=config.origin, timeout=10.0) as client:
            yield Gateway(client, f"ws://127.0.0.1:{config.gateway_port}/v0/connect")
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15.0)


def hello(conn_id: str, token: str, functions: bytes | None = None) -> bytes:
    payload = encode(
        "WorkerConnectRequestData",
        connection_id=conn_id,
        instance_id="test",
        auth_data={"session_token": token, "sync_token": token},
        apps=[{"app_name": "wapp", "functions": functions or json.dumps([FUNCTION]).encode()}],
        sdk_language="py",
        sdk_version="0.5.19",
    )
    return frame(Kind.WORKER_CONNECT, payload)


async def start(gw: Gateway, **headers: str) -> tuple[str, str]:
    response = await gw.client.post("/v0/connect/start", content=b"", headers=headers)
    assert response.status_code == 200, response.text
    answer = decode("StartResponse", response.content)
    assert answer.gateway_endpoint == gw.ws_url
    return str(answer.connection_id), str(answer.session_token)


async def closed_with(ws: websockets.ClientConnection) -> tuple[int | None, str | None]:
    with contextlib.suppress(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 10.0)
    return ws.close_code, ws.close_reason


async def test_a_worker_is_synced_and_made_ready(sqlite_url: str) -> None:
    async with gateway(sqlite_url, dev=True) as gw:
        conn_id, token = await start(gw)
        async with websockets.connect(gw.ws_url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
            assert read_frame(await ws.recv())[0] == Kind.GATEWAY_HELLO  # type: ignore[arg-type]
            await ws.send(hello(conn_id, token))
            kind, payload = read_frame(await ws.recv())  # type: ignore[arg-type]
            assert kind == Kind.GATEWAY_CONNECTION_READY
            assert decode("GatewayConnectionReadyData", payload).extend_lease_interval == "5s"
            workers = (await gw.client.get("/v0/connect/workers")).json()["data"]
            assert [(w["connection_id"], w["status"]) for w in workers] == [(conn_id, "READY")]
            await ws.send(frame(Kind.WORKER_HEARTBEAT))
            assert read_frame(await ws.recv())[0] == Kind.GATEWAY_HEARTBEAT  # type: ignore[arg-type]
        dev = (await gw.client.get("/dev")).json()
        assert "wapp-hello" in {fn["slug"] for fn in dev["functions"]}


async def test_a_start_request_that_is_not_protobuf_is_refused(sqlite_url: str) -> None:
    async with gateway(sqlite_url, dev=True) as gw:
        response = await gw.client.post("/v0/connect/start", content=b"\xff\xff")
        assert response.status_code == 400
        assert "StartRequest" in response.text
        flush = await gw.client.post("/v0/connect/flush", content=b"")
        assert flush.status_code == 400
        assert "request_id" in flush.text


@pytest.mark.parametrize(
    ("first", "code", "reason"),
    [
        (b"text", 1002, "binary"),
        (frame(Kind.WORKER_HEARTBEAT), 1002, "WORKER_CONNECT first"),
        (hello("c", "t", functions=b"{not json"), 4001, "apps[0].functions"),
        (hello("c", "t", functions=b'[{"id": "x"}]'), 4001, "steps"),
        (hello("", "t"), 1002, "connection_id"),
    ],
    ids=["text frame", "not a connect", "bad JSON", "bad function", "no connection id"],
)
async def test_a_bad_handshake_is_refused_saying_why(
    sqlite_url: str, first: bytes, code: int, reason: str
) -> None:
    async with gateway(sqlite_url, dev=True) as gw:
        async with websockets.connect(gw.ws_url) as ws:
            await ws.recv()  # hello
            await ws.send(first.decode() if first == b"text" else first)
            got_code, got_reason = await closed_with(ws)
        assert got_code == code
        assert reason in (got_reason or "")
        assert (await gw.client.get("/v0/connect/workers")).json()["data"] == []


async def test_production_needs_the_signing_key_and_the_issued_token(sqlite_url: str) -> None:
    async with gateway(sqlite_url, dev=False) as gw:
        refused = await gw.client.post("/v0/connect/start", content=b"")
        assert refused.status_code == 401
        bearer = {"Authorization": f"Bearer {signing.hashed_key(KEY)}"}
        conn_id, token = await start(gw, **bearer)
        async with websockets.connect(gw.ws_url) as ws:
            await ws.recv()
            await ws.send(hello(conn_id, "forged"))
            code, reason = await closed_with(ws)
        assert code == 1008
        assert "session token" in (reason or "")
        async with websockets.connect(gw.ws_url) as ws:
            await ws.recv()
            await ws.send(hello(conn_id, token))
            assert read_frame(await ws.recv())[0] == Kind.GATEWAY_CONNECTION_READY  # type: ignore[arg-type]
