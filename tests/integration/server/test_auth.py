"""Production mode locks every route: walked from the router itself, so a route added later is
covered without anyone remembering to add it here."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route

import stepwell
from stepwell.protocol.signing import hashed_key
from stepwell.server.app import OPEN_PATHS, create_app
from stepwell.server.config import ServerConfig
from stepwell.server.runtime import ServerRuntime
from tests.integration.server.harness import serving
from tests.sockets import listening_socket

SIGNING_KEY = "signkey-prod-0123456789abcdef0123456789abcdef"
FALLBACK_KEY = "signkey-prod-fedcba9876543210fedcba9876543210"
WRONG_KEY = "signkey-prod-00000000000000000000000000000000"

# Credentials that must all be refused: none, malformed, wrong, and octets that are not ASCII
# (raw header bytes, as a hostile client sends them).
REFUSED: list[tuple[str, dict[bytes, bytes]]] = [
    ("none", {}),
    ("empty", {b"authorization": b""}),
    ("not bearer", {b"authorization": b"Basic dXNlcjpwYXNz"}),
    ("bare bearer", {b"authorization": b"Bearer"}),
    ("wrong key", {b"authorization": f"Bearer {WRONG_KEY}".encode()}),
    ("wrong hash", {b"authorization": f"Bearer {hashed_key(WRONG_KEY)}".encode()}),
    ("non-ascii", {b"authorization": "Bearer clé-ünïcødé".encode()}),
    ("latin-1 octets", {b"authorization": b"Bearer \xff\xfe\xe9"}),
    ("huge", {b"authorization": b"Bearer " + b"a" * 20_000}),
]


def _sample_path(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _endpoints(routes: list[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) for every route the app serves."""
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or {"GET"}):
                if method != "HEAD":
                    found.append((method, _sample_path(route.path)))
        elif isinstance(route, Mount):
            found.append(("GET", _sample_path(route.path) + "/"))
    return found


@pytest.fixture
async def production(sqlite_url: str) -> httpx.AsyncClient:  # type: ignore[misc]
    sock = listening_socket()
    port = sock.getsockname()[1]
    config = ServerConfig(
        dev=False,
        port=port,
        database=sqlite_url,
        discovery=False,
        poll_interval_s=3600.0,
        signing_key=SIGNING_KEY,
        signing_key_fallback=FALLBACK_KEY,
        event_keys=["event-key"],
    )
    app = stepwell.App("locked")
    served = stepwell.serve(app, is_dev=False, signing_key=SIGNING_KEY, base_url=config.origin)
    asgi = create_app(ServerRuntime(config), extra_routes=[Mount("/api/inngest", served)])
    async with (
        serving(asgi, sock),
        httpx.AsyncClient(base_url=config.origin, timeout=10.0) as client,
    ):
        client.routes = asgi.routes  # type: ignore[attr-defined]
        yield client


async def test_every_route_but_the_open_ones_needs_the_signing_key(
    production: httpx.AsyncClient,
) -> None:
    routes: list[BaseRoute] = production.routes  # type: ignore[attr-defined]
    endpoints = _endpoints(routes)
    assert len(endpoints) >= 25, endpoints  # the walk found the app's routes
    declared_open = {r.path for r in routes if isinstance(r, Route) and r.path in OPEN_PATHS}
    assert declared_open == set(OPEN_PATHS)  # the open list names routes that exist

    locked = 0
    for method, path in endpoints:
        is_open = any(
            isinstance(r, Route) and r.path in OPEN_PATHS and _sample_path(r.path) == path
            for r in routes
        )
        is_mount = path.startswith("/api/inngest")
        for label, headers in REFUSED:
            response = await production.request(method, path, headers=headers)
            assert response.status_code < 500, (method, path, label, response.text)
            if is_open or is_mount:
                continue
            assert response.status_code == 401, (method, path, label, response.text)
            assert response.json()["error"].startswith("Authentication failed: ")
        if not (is_open or is_mount):
            locked += 1
            # The current key, its hash (what SDKs send), and the fallback all get past the
            # guard: whatever the route answers then, it is not a refusal of the credentials.
            for key in (SIGNING_KEY, hashed_key(SIGNING_KEY), FALLBACK_KEY):
                passed = await production.request(
                    method, path, headers={"Authorization": f"Bearer {key}"}
                )
                assert passed.status_code != 401 or "Authentication failed:" not in passed.text
                assert passed.status_code < 500, (method, path, passed.text)
    assert locked >= 20


async def test_privileged_operations_named_in_the_issue_are_locked(
    production: httpx.AsyncClient,
) -> None:
    for path in (
        "/v1/functions/locked-f/pause",
        "/v1/functions/locked-f/resume",
        "/v1/functions/locked-f/replay",
        "/v1/runs/01J00000000000000000000000/rerun",
        "/v2/runs/01J00000000000000000000000/rerun",
        "/v1/cancellations",
        "/v0/gql",
        "/fn/register",
    ):
        response = await production.post(path, json={})
        assert response.status_code == 401, (path, response.text)


async def test_the_open_routes_answer_without_the_signing_key(
    production: httpx.AsyncClient,
) -> None:
    assert (await production.get("/health")).status_code == 200
    sent = await production.post("/e/event-key", json={"name": "a/b"})
    assert sent.status_code == 200, sent.text
    wrong = await production.post("/e/other", json={"name": "a/b"})
    assert wrong.status_code == 401  # the event API checks its own keys
    # An app on our SDK checks request signatures itself: unsigned calls are refused there.
    assert (await production.get("/api/inngest/")).status_code == 401


async def test_an_app_on_our_sdk_refuses_oversized_bodies_before_reading_them(
    production: httpx.AsyncClient,
) -> None:
    url = production.base_url
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(
            b"POST /api/inngest/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {10**12}\r\n\r\n{{}}".encode()
        )
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10.0)
    finally:
        writer.close()
    assert status_line.split()[1] == b"413", status_line
