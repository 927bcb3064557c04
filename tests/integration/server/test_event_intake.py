"""``POST /e/{key}`` answered from the app's front (``EventIntake``, ahead of the router and its
middlewares) gives the answers the router gives: each case is sent to a real server over
loopback (the front answers) and to the same app under a root path (the router answers)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
from starlette.responses import JSONResponse

from stepwell.server.app import create_app
from stepwell.server.config import ServerConfig
from stepwell.server.runtime import ServerRuntime
from tests.integration.server.harness import serving
from tests.sockets import listening_socket

ROOT = "/mounted"
SEED = {"X-Inngest-Event-Id-Seed": f"1795510687106,{base64.b64encode(bytes(10)).decode()}"}


class Both:
    """One app, asked through its front (a real server) and through its router."""

    def __init__(self, front: httpx.AsyncClient, router: httpx.AsyncClient) -> None:
        self.front = front
        self.router = router

    async def post(self, path: str, **kwargs: Any) -> tuple[httpx.Response, httpx.Response]:
        front = await self.front.post(path, **kwargs)
        routed = await self.router.post(path, **kwargs)
        return front, routed


@asynccontextmanager
async def both(db_url: str, **options: Any) -> AsyncIterator[Both]:
    sock = listening_socket()
    config = ServerConfig(port=sock.getsockname()[1], database=db_url, discovery=False, **options)
    app = create_app(ServerRuntime(config))
    # A root path leaves the request to the router (the front does not strip one); a failure
    # is answered as a server answers it (500), not raised into the test.
    transport = httpx.ASGITransport(app=app, root_path=ROOT, raise_app_exceptions=False)
    async with (
        serving(app, sock),
        httpx.AsyncClient(base_url=config.origin, timeout=10.0) as front,
        httpx.AsyncClient(transport=transport, base_url=f"http://test{ROOT}") as router,
    ):
        yield Both(front, router)


def as_starlette_wrote_it(response: httpx.Response) -> None:
    """The body and headers a Starlette ``JSONResponse`` gave, which answered before."""
    expected = JSONResponse(response.json(), status_code=response.status_code)
    assert response.content == expected.body
    assert response.headers["content-type"] == expected.headers["content-type"]
    assert response.headers["content-length"] == expected.headers["content-length"]


def same_refusal(front: httpx.Response, routed: httpx.Response) -> Any:
    assert (front.status_code, front.content) == (routed.status_code, routed.content)
    for name in ("content-type", "content-length", "x-inngest-server-kind"):
        assert front.headers[name] == routed.headers[name], name
    as_starlette_wrote_it(front)
    return front.json()


def same_acceptance(front: httpx.Response, routed: httpx.Response, count: int) -> None:
    for response in (front, routed):
        assert response.status_code == 200, response.text
        body = response.json()
        assert list(body) == ["ids", "status"]
        assert body["status"] == 200
        assert len(body["ids"]) == count
        as_starlette_wrote_it(response)
    for name in ("content-length", "x-inngest-server-kind"):
        assert front.headers[name] == routed.headers[name], name
    assert json.loads(front.content) != json.loads(routed.content)  # fresh ids each time


async def test_accepted_events_are_answered_alike(db_url: str) -> None:
    async with both(db_url) as app:
        same_acceptance(*await app.post("/e/key", json={"name": "a/b", "data": {"n": 1}}), 1)
        same_acceptance(*await app.post("/e/", json={"name": "a/b"}), 1)
        same_acceptance(*await app.post("/e/key", json=[{"name": "a/b"}] * 100), 100)
        assert same_refusal(*await app.post("/e/key", json=[])) == {"ids": [], "status": 200}


async def test_bad_bodies_are_refused_alike(db_url: str) -> None:
    cases: dict[str, bytes] = {
        "bad JSON": b'{"name": "a/b",',
        "not UTF-8": b'{"name": "\xff"}',
        "NaN": b'{"name": "a/b", "data": {"x": NaN}}',
        "not an object": b'"just a string"',
        "an array holding a number": b'[{"name": "a/b"}, 7]',
        "no name": b'{"data": {}}',
        "a reserved name": b'{"name": "inngest/function.finished"}',
        "too many events": json.dumps([{"name": "a/b"}] * 5001).encode(),
    }
    async with both(db_url) as app:
        for label, body in cases.items():
            answer = same_refusal(*await app.post("/e/key", content=body))
            assert (answer["status"], answer["ids"]) == (400, []), label
            assert answer["error"], label
        events = await app.front.get("/v1/events")
        assert events.json()["data"] == []  # nothing of a refused batch was stored


async def test_a_body_over_the_limit_is_refused_alike(db_url: str) -> None:
    declared = {"Content-Length": str(64 * 1024 * 1024 + 1), "Content-Type": "application/json"}
    async with both(db_url) as app:
        # Refused on the declared length alone, before a byte of the body is read.
        routed = await app.router.post("/e/key", content=b"{}", headers=declared)
        front = await raw_post(app.front, "/e/key", declared, b"{}")
        assert front.startswith(b"HTTP/1.1 413 ")
        assert front.endswith(routed.content)
        assert routed.json()["error"].startswith("the request body is 67108865 bytes, over")


async def raw_post(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], body: bytes
) -> bytes:
    """One request written as given (httpx would correct a false Content-Length)."""
    url = client.base_url
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body)
        await writer.drain()
        answer_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
        length = next(
            int(line.split(b":")[1])
            for line in answer_head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        return answer_head + await asyncio.wait_for(reader.readexactly(length), 10.0)
    finally:
        writer.close()


async def test_a_chunked_body_is_read_whole(db_url: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'[{"name": "a/b"},'
        yield b' {"name": "a/c"}]'

    async with both(db_url) as app:
        response = await app.front.post("/e/key", content=chunks())
        assert response.status_code == 200, response.text
        assert len(response.json()["ids"]) == 2


async def test_a_seeded_retry_gets_the_same_ids_from_either(db_url: str) -> None:
    async with both(db_url) as app:
        event = {"name": "a/b", "data": {"n": 1}}
        front, routed = await app.post("/e/key", json=event, headers=SEED)
        assert front.status_code == routed.status_code == 200
        assert front.content == routed.content  # the retry answered with the stored ids
        reused = await app.post("/e/key", json=[event, event], headers=SEED)
        assert same_refusal(*reused)["status"] == 400


async def test_other_methods_and_paths_are_left_to_the_router(db_url: str) -> None:
    async with both(db_url) as app:
        method = await app.front.get("/e/key")
        assert method.status_code == 405
        assert method.json()["error"] == "GET /e/key: Method Not Allowed"
        deeper = await app.front.post("/e/key/more", json={"name": "a/b"})
        assert deeper.status_code in (307, 404)  # the router's answer (a slash redirect)
        assert (await app.front.post("/e/a/b/c", json={"name": "a/b"})).status_code == 404


async def test_start_mode_checks_keys_alike(db_url: str) -> None:
    keys = {"dev": False, "signing_key": "signkey-test-0a1b2c3d"}
    async with both(db_url, **keys, event_keys=["key-1"]) as app:
        event = {"name": "a/b"}
        assert same_refusal(*await app.post("/e/nope", json=event))["status"] == 401
        assert same_refusal(*await app.post("/e/", json=event))["error"] == (
            "Event key is required"
        )
        same_acceptance(*await app.post("/e/key-1", json=event), 1)
        # The signing key does not stand in for an event key, nor is it needed.
        signed = {"Authorization": "Bearer signkey-test-0a1b2c3d"}
        assert same_refusal(*await app.post("/e/nope", json=event, headers=signed))
    async with both(db_url, **keys) as app:
        unavailable = same_refusal(*await app.post("/e/any", json={"name": "a/b"}))
        assert unavailable == {
            "status": 503,
            "message": "",
            "error": "No event keys are configured",
        }


def break_the_events_table(db_url: str) -> None:
    """A store that fails underneath the server: its events table is gone."""
    statement = "ALTER TABLE events RENAME TO events_gone"
    if db_url.startswith("sqlite:"):
        with contextlib.closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as conn:
            conn.execute(statement)
            conn.commit()
        return
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(statement)


async def test_a_failing_store_is_a_500_from_either(db_url: str) -> None:
    async with both(db_url) as app:
        break_the_events_table(db_url)
        front, routed = await app.post("/e/key", json={"name": "a/b"})
        for response in (front, routed):
            assert (response.status_code, response.text) == (500, "Internal Server Error")
            assert response.headers["content-type"] == "text/plain; charset=utf-8"
            assert response.headers["x-inngest-server-kind"] == "dev"
