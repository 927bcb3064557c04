"""The dashboard's login in production, its sessions and its anti-forgery rule, over a real
server (uvicorn on a loopback socket, the API's Bearer guard in front).

Besides the dashboard's own routes, the app carries two test routes wrapped by
``session.protect`` exactly as pages are: ``GET /t/page`` and ``POST /t/act``, which counts its
calls, so "refused and changes nothing" is checked on the endpoint itself.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from stepwell.dashboard import DashboardContext, dashboard_routes, session
from stepwell.server.app import create_app
from stepwell.server.config import ServerConfig
from stepwell.server.runtime import ServerRuntime
from tests.integration.server.harness import serving
from tests.sockets import listening_socket

SIGNING_KEY = "signkey-prod-0123456789abcdef0123456789abcdef"
DASHBOARD_KEY = "a dashboard key long enough"
TTL_S = 600


@dataclass
class Dashboard:
    client: httpx.AsyncClient
    ctx: DashboardContext
    acted: list[str] = field(default_factory=list)

    async def login(self, key: str = DASHBOARD_KEY, next_path: str = "/") -> httpx.Response:
        response = await self.client.post("/login", data={"key": key, "next": next_path})
        self.client.cookies.clear()  # each request below says which session it carries
        return response

    async def session(self) -> str:
        response = await self.login()
        assert response.status_code == 303, response.text
        value = response.cookies.get(session.COOKIE)
        assert value
        return value


def _cookie(value: str, **headers: str) -> dict[bytes, bytes]:
    """Headers carrying ``value`` as the session cookie (bytes: a hostile one may not be ASCII)."""
    return {
        b"cookie": f"{session.COOKIE}={value}".encode(),
        **{name.encode(): text.encode() for name, text in headers.items()},
    }


def _test_routes(ctx: DashboardContext, acted: list[str]) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        return PlainTextResponse(f"page token={request.state.csrf_token}")

    async def act(request: Request) -> Response:
        acted.append(request.method)
        return PlainTextResponse("done")

    return [
        Route("/t/page", session.protect(ctx, page), methods=["GET"]),
        Route("/t/act", session.protect(ctx, act), methods=["POST"]),
    ]


async def _serve(sqlite_url: str, *, dev: bool) -> AsyncIterator[Dashboard]:
    sock = listening_socket()
    port = sock.getsockname()[1]
    config = ServerConfig(
        dev=dev,
        port=port,
        database=sqlite_url,
        discovery=False,
        poll_interval_s=3600.0,
        signing_key=None if dev else SIGNING_KEY,
        event_keys=[] if dev else ["event-key"],
        dashboard_key=None if dev else DASHBOARD_KEY,
    )
    runtime = ServerRuntime(config)
    ctx = DashboardContext.serving(runtime)
    ctx.session_ttl_s = TTL_S
    acted: list[str] = []
    routes = [*dashboard_routes(ctx), *_test_routes(ctx, acted)]
    asgi = create_app(runtime, extra_routes=routes)
    async with (
        serving(asgi, sock),
        httpx.AsyncClient(base_url=config.origin, timeout=10.0) as client,
    ):
        yield Dashboard(client, ctx, acted)


@pytest.fixture
async def prod(sqlite_url: str) -> AsyncIterator[Dashboard]:
    async for dashboard in _serve(sqlite_url, dev=False):
        yield dashboard


@pytest.fixture
async def dev(sqlite_url: str) -> AsyncIterator[Dashboard]:
    async for dashboard in _serve(sqlite_url, dev=True):
        yield dashboard


async def test_without_a_session_pages_redirect_to_the_login(prod: Dashboard) -> None:
    for path, expected in [
        ("/", "/login?next=%2F"),
        ("/t/page?status=Failed&x=1", "/login?next=%2Ft%2Fpage%3Fstatus%3DFailed%26x%3D1"),
    ]:
        response = await prod.client.get(path)
        assert response.status_code == 303, (path, response.text)
        assert response.headers["location"] == expected
    htmx = await prod.client.get("/t/page", headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["hx-redirect"] == "/login?next=%2Ft%2Fpage"
    page = await prod.client.get("/login?next=/t/page")
    assert page.status_code == 200
    assert 'type="password"' in page.text
    assert ">Key</label>" in page.text
    assert "Log in</button>" in page.text
    assert 'value="/t/page"' in page.text


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "evil", "/login", "/a\nb", ""],
)
def test_next_stays_on_this_site(target: str) -> None:
    assert session.safe_next(target) == "/"


def test_next_keeps_a_relative_path() -> None:
    assert session.safe_next("/runs/01J?status=Failed") == "/runs/01J?status=Failed"


async def test_wrong_keys_are_all_answered_alike(prod: Dashboard) -> None:
    wrong: list[bytes] = [
        b"key=&next=%2F",
        b"key=a&next=%2F",
        b"key=" + b"x" * 8000 + b"&next=%2F",
        "key=clé-ünïcødé&next=%2F".encode(),
        b"key=%FF%FE%E9&next=%2F",
        b"key=" + DASHBOARD_KEY[:-1].encode() + b"X&next=%2F",
        b"key=" + SIGNING_KEY.encode() + b"&next=%2F",  # a dedicated key replaces the signing key
        b"next=%2F",
        b"key=" + b"y" * 40_000,  # over the body limit
        b"\xff\xfe garbage",
    ]
    answers = set()
    for body in wrong:
        started = time.monotonic()
        response = await prod.client.post(
            "/login", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        elapsed = time.monotonic() - started
        assert elapsed >= session.REFUSAL_DELAY_S, body[:40]
        assert session.COOKIE not in response.cookies
        answers.add((response.status_code, response.text))
    assert len(answers) == 1, answers
    [(status, text)] = answers
    assert status == 401
    assert "That key is not right." in text


async def test_the_right_key_gives_a_strict_http_only_cookie_with_an_expiry(
    prod: Dashboard,
) -> None:
    response = await prod.login(next_path="/t/page")
    assert response.status_code == 303
    assert response.headers["location"] == "/t/page"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{session.COOKIE}=")
    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")}
    assert "httponly" in attributes
    assert attributes["samesite"].strip().lower() == "samesite=strict"
    assert attributes["max-age"].strip().lower() == f"max-age={TTL_S}"
    value = response.cookies[session.COOKIE]
    page = await prod.client.get("/t/page", headers=_cookie(value))
    assert page.status_code == 200
    assert page.text == f"page token={session.csrf_token(prod.ctx, value)}"


async def test_expired_forged_and_foreign_sessions_are_refused(prod: Dashboard) -> None:
    expired = session.new_session(prod.ctx, now=time.time() - TTL_S - 1)
    other = DashboardContext(history=prod.ctx.history, login_key="another key entirely!!")
    foreign = session.new_session(other)
    good = await prod.session()
    expiry, nonce, mac = good.split(".")
    forged = f"{int(expiry) + 10_000}.{nonce}.{mac}"
    for value in (expired, foreign, forged, "garbage", "1.2.3", "é" * 300):
        response = await prod.client.get("/t/page", headers=_cookie(value))
        assert response.status_code == 303, value
        assert response.headers["location"].startswith("/login?next=")


def test_a_session_outlives_a_restart_and_is_good_on_other_processes() -> None:
    first = DashboardContext(history=None, login_key=DASHBOARD_KEY)  # type: ignore[arg-type]
    second = DashboardContext(history=None, login_key=DASHBOARD_KEY)  # type: ignore[arg-type]
    value = session.new_session(first)
    assert session.valid_session(second, value)
    assert session.csrf_token(first, value) == session.csrf_token(second, value)
    assert not session.valid_session(second, value, now=time.time() + first.session_ttl_s + 1)


async def test_actions_need_the_pages_token_and_change_nothing_without_it(
    prod: Dashboard,
) -> None:
    value = await prod.session()
    token = session.csrf_token(prod.ctx, value)
    here = str(prod.client.base_url).rstrip("/")
    refused = [
        {},
        {"X-Stepwell-Token": "0" * 64},
        {"X-Stepwell-Token": "é"},
        {"X-Stepwell-Token": token, "Origin": "https://evil.example"},
        {"X-Stepwell-Token": token, "Origin": "null"},
        {"X-Stepwell-Token": token, "Referer": "https://evil.example/x"},
    ]
    for extra in refused:
        response = await prod.client.post("/t/act", headers=_cookie(value, **extra))
        assert response.status_code == 403, extra
    wrong_form = await prod.client.post("/t/act", headers=_cookie(value), data={"token": "wrong"})
    wrong_multipart = await prod.client.post(
        "/t/act", headers=_cookie(value), files={"token": (None, "wrong")}
    )
    assert [wrong_form.status_code, wrong_multipart.status_code] == [403, 403]
    no_session = await prod.client.post("/t/act", headers={"X-Stepwell-Token": token})
    assert no_session.status_code == 403
    assert prod.acted == []
    # …and the session still works: nothing was ended by the refused logout either.
    refused_logout = await prod.client.post("/logout", headers=_cookie(value))
    assert refused_logout.status_code == 403
    assert (await prod.client.get("/t/page", headers=_cookie(value))).status_code == 200

    by_header = await prod.client.post(
        "/t/act", headers=_cookie(value, **{"X-Stepwell-Token": token, "Origin": here})
    )
    by_form = await prod.client.post(
        "/t/act", headers=_cookie(value, Referer=f"{here}/runs"), data={"token": token}
    )
    assert [by_header.status_code, by_form.status_code] == [200, 200]
    assert prod.acted == ["POST", "POST"]

    logout = await prod.client.post("/logout", headers=_cookie(value), data={"token": token})
    assert logout.status_code == 303
    assert logout.headers["location"] == "/login"
    assert 'stepwell_session=""' in logout.headers["set-cookie"]


async def test_dev_mode_is_open_but_refuses_cross_site_actions(dev: Dashboard) -> None:
    assert dev.ctx.login_key is None
    page = await dev.client.get("/t/page")
    assert page.status_code == 200
    login = await dev.client.get("/login")
    assert login.status_code == 303
    assert login.headers["location"] == "/"
    assert (await dev.client.post("/t/act")).status_code == 200
    cross = await dev.client.post("/t/act", headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert dev.acted == ["POST"]
