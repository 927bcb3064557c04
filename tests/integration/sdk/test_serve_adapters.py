"""The Flask and Django adapters answer exactly as the ASGI one: one scripted conversation with
each, over real HTTP, must give the same replies (only the framework's name differs)."""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import types
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import flask
import httpx
import pytest
from werkzeug.serving import make_server

import stepwell
from stepwell import Context, SyncContext
from stepwell.protocol.step_ids import hash_step_id as h
from stepwell.sdk.serve import django as django_serve
from stepwell.sdk.serve import flask as flask_serve
from tests.integration.sdk.serving import FakeInngest, call_body, serving

URLCONF = "stepwell_test_django_urls"


def _app() -> stepwell.App:
    app = stepwell.App("shop")

    @app.function("steps", trigger=stepwell.on_event("shop/go", if_="event.data.x > 0"))
    async def steps(ctx: Context) -> list[Any]:
        a = await ctx.step.run("a", lambda: {"n": ctx.event.data["x"]})
        await ctx.step.sleep("nap", "2s")
        return [a]

    @app.function("par", trigger=stepwell.on_event("shop/par"))
    async def par(ctx: Context) -> list[int]:
        return list(
            await asyncio.gather(ctx.step.run("a", lambda: 1), ctx.step.run("b", lambda: 2))
        )

    @app.function("sync", trigger=stepwell.on_event("shop/sync"), retries=0)
    def sync(ctx: SyncContext) -> int:
        value: int = ctx.step.run("a", lambda: 41)
        if ctx.event.data.get("fail"):
            raise stepwell.NonRetriableError("asked to fail")
        return value + 1

    @app.function("send", trigger=stepwell.on_event("shop/send"))
    async def send(ctx: Context) -> list[str]:
        return await ctx.step.send_event("s", stepwell.Event(name="shop/sent"))

    return app


@asynccontextmanager
async def _wsgi(wsgi_app: Any) -> AsyncIterator[str]:
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        await asyncio.to_thread(server.shutdown)
        thread.join(10)


def _django_wsgi() -> Any:
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="stepwell-tests",
            ROOT_URLCONF=URLCONF,
            ALLOWED_HOSTS=["*"],
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
        import django

        django.setup()
    from django.core.handlers.wsgi import WSGIHandler

    return WSGIHandler()


@asynccontextmanager
async def _adapter(kind: str, api: str) -> AsyncIterator[str]:
    """The app served by one adapter at ``/api/inngest``; yields that URL."""
    app = _app()
    if kind == "asgi":
        async with serving(stepwell.serve(app, is_dev=True, base_url=api)) as url:
            yield f"{url}/api/inngest"
    elif kind == "flask":
        flask_app = flask.Flask("stepwell-test")
        flask_serve.serve(app, flask_app, is_dev=True, base_url=api)
        async with _wsgi(flask_app) as url:
            yield f"{url}/api/inngest"
    else:
        from django.urls import clear_url_caches

        wsgi = _django_wsgi()
        urls = types.ModuleType(URLCONF)
        urls.urlpatterns = [django_serve.serve(app, is_dev=True, base_url=api)]  # type: ignore[attr-defined]
        sys.modules[URLCONF] = urls
        clear_url_caches()
        async with _wsgi(wsgi) as url:
            yield f"{url}/api/inngest"


Reply = tuple[int, Any, dict[str, str]]
_KEPT_HEADERS = ("x-inngest-sdk", "x-inngest-req-version", "x-inngest-no-retry", "content-type")


async def _conversation(url: str, fake: FakeInngest) -> list[Reply]:
    """The same requests for every adapter; replies made comparable (no stacks, no ports)."""
    base = url.rsplit("/api/inngest", 1)[0]
    data = {"x": 3}
    event = {"name": "shop/go", "data": data, "id": "e", "ts": 1, "user": {}}
    replies: list[httpx.Response] = []
    async with httpx.AsyncClient(timeout=30) as client:

        async def post(fn: str, step: str = "step", **kwargs: Any) -> None:
            body = call_body(event=kwargs.pop("event", event), **kwargs)
            params = {"fnId": f"shop-{fn}", "stepId": step}
            replies.append(await client.post(url, params=params, json=body))

        replies.append(await client.get(url))
        replies.append(await client.put(url, headers={"X-Inngest-Server-Kind": "dev"}))
        await post("steps")
        await post("steps", steps={h("a"): {"data": {"n": 3}}})
        await post("steps", steps={h("a"): {"data": {"n": 3}}, h("nap"): None})
        await post("par")
        await post("par", step=h("b"), die=True)
        await post("sync")
        await post("sync", steps={h("a"): {"data": 41}})
        await post("sync", steps={h("a"): {"data": 41}}, event={**event, "data": {"fail": 1}})
        await post("send")
        replies.append(await client.post(url, params={"fnId": "shop-nope"}, json={}))
    registered = fake.of("/fn/register")[-1].body
    return [_comparable(r, base) for r in replies] + [(0, _strip(registered, base), {})]


def _comparable(response: httpx.Response, base: str) -> Reply:
    headers = {k: v for k, v in response.headers.items() if k in _KEPT_HEADERS}
    return response.status_code, _strip(response.json(), base), headers


def _strip(value: Any, base: str) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v, base) for k, v in value.items() if k not in ("stack", "framework")}
    if isinstance(value, list):
        return [_strip(v, base) for v in value]
    if isinstance(value, str):
        return re.sub(r"^ulid-\d+-", "ulid-", value.replace(base, "<app>"))
    return value


async def test_every_adapter_holds_the_same_conversation(
    fake_api: tuple[FakeInngest, str],
) -> None:
    fake, api = fake_api
    conversations: dict[str, list[Reply]] = {}
    for kind in ("asgi", "flask", "django"):
        async with _adapter(kind, api) as url:
            conversations[kind] = await _conversation(url, fake)

    replies = conversations["asgi"]
    statuses = [status for status, _, _ in replies[:-1]]
    assert statuses == [200, 200, 206, 206, 200, 206, 206, 206, 200, 500, 206, 500]
    assert replies[2][1][0]["data"] == {"n": 3}
    assert replies[3][1][0]["op"] == "Sleep"
    assert replies[4][1] == [{"n": 3}]
    assert [op["op"] for op in replies[5][1]] == ["StepPlanned", "StepPlanned"]
    assert replies[6][1][0]["data"] == 2
    assert replies[8][1] == 42
    assert replies[9][2]["x-inngest-no-retry"] == "true"
    assert replies[10][1][0]["data"] == ["ulid-0"]
    assert replies[11][1]["code"] == "function_not_found"
    registered = replies[-1][1]
    assert registered["url"] == "<app>/api/inngest"
    assert [f["id"] for f in registered["functions"]] == [
        "shop-steps",
        "shop-par",
        "shop-sync",
        "shop-send",
    ]
    assert conversations["flask"] == replies
    assert conversations["django"] == replies


async def test_each_adapter_names_its_framework(fake_api: tuple[FakeInngest, str]) -> None:
    fake, api = fake_api
    seen: dict[str, tuple[str, str]] = {}
    for kind in ("asgi", "flask", "django"):
        async with _adapter(kind, api) as url, httpx.AsyncClient() as client:
            got = await client.get(url)
            await client.put(url)
        seen[kind] = (
            got.headers["x-inngest-framework"],
            fake.of("/fn/register")[-1].body["framework"],
        )
    assert seen == {
        "asgi": ("starlette", "starlette"),
        "flask": ("flask", "flask"),
        "django": ("django", "django"),
    }


def test_flask_adapter_mounts_at_the_given_prefix() -> None:
    flask_app = flask.Flask("prefix")
    flask_serve.serve(_app(), flask_app, url_prefix="/hooks/inngest", is_dev=True)
    client = flask_app.test_client()
    assert client.get("/hooks/inngest").status_code == 200
    assert client.get("/api/inngest").status_code == 404


def test_django_pattern_uses_the_serve_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INNGEST_SERVE_PATH", "/x/inngest")
    _django_wsgi()
    pattern = django_serve.serve(_app(), is_dev=True)
    assert str(pattern.pattern) == "x/inngest"
    assert callable(pattern.callback)
