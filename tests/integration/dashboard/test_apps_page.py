"""The apps page over a real dev server and fake apps on loopback: what each app is, Sync,
Add app by URL (a refused sync says why and changes nothing), Remove after a Confirm."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.dashboard.test_events_page import HTMX, dashboard_server
from tests.integration.server.conftest import shop_functions
from tests.integration.server.harness import FakeSdk, Server, running_sdk


@pytest.fixture
async def server(sqlite_url: str) -> AsyncIterator[Server]:
    async with dashboard_server(sqlite_url) as running:
        yield running


@pytest.fixture
async def shop(server: Server) -> AsyncIterator[FakeSdk]:
    """The demo app, served but not synced: the page adds it."""
    async with running_sdk(FakeSdk("shop", shop_functions()), server.url) as sdk:
        yield sdk


async def test_add_app_by_url_syncs_it_and_shows_what_it_is(server: Server, shop: FakeSdk) -> None:
    empty = await server.client.get("/apps")
    assert "No apps are synced yet" in empty.text
    added = await server.client.post("/apps/sync", data={"url": shop.url}, headers=HTMX)
    assert added.status_code == 204, added.text
    assert added.headers["HX-Redirect"].startswith("/apps?synced=")
    page = (await server.client.get("/apps")).text
    assert 'id="app-shop"' in page
    assert shop.url in page
    assert "Python 0.5.19" in page
    assert "(starlette)" in page
    assert "<dd>6 " in page  # six functions
    assert ">OK</span>" in page
    assert shop.url in server.runtime.syncer.urls()  # kept in sync from now on


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "give the app&#39;s URL"),
        ("ftp://example.com/x", "expected http:// or https://"),
        ("http://", "expected http:// or https:// and a host"),
        ("http://127.0.0.1:99999/x", "not a URL"),
        ("http://a b/", "spaces"),
        ("http://127.0.0.1:9/api/inngest", "could not reach the app"),
    ],
)
async def test_a_refused_add_says_why_and_changes_nothing(
    server: Server, url: str, says: str
) -> None:
    answer = await server.client.post("/apps/sync", data={"url": url}, headers=HTMX)
    assert answer.status_code in (400, 422), answer.text
    assert says in answer.text
    assert server.runtime.syncer.urls() == []
    assert server.runtime.catalog.apps() == []


async def test_a_refused_sync_of_a_known_app_shows_the_precise_reason(
    server: Server, shop: FakeSdk
) -> None:
    await server.client.post("/apps/sync", data={"url": shop.url}, headers=HTMX)
    shop.functions["shop-hello"].triggers = [{"event": "shop/x", "expression": "event.data.("}]
    answer = await server.client.post("/apps/sync", data={"url": shop.url}, headers=HTMX)
    assert answer.status_code == 422
    assert "the app&#39;s sync failed" in answer.text
    assert "triggers[0].expression" in answer.text
    page = (await server.client.get("/apps")).text
    assert "failed since: the app&#39;s sync failed" in page


async def test_remove_asks_for_a_confirmation_then_forgets_the_app(
    server: Server, shop: FakeSdk
) -> None:
    await server.client.post("/apps/sync", data={"url": shop.url}, headers=HTMX)
    confirm = await server.client.get("/apps/remove", params={"url": shop.url}, headers=HTMX)
    assert confirm.status_code == 200
    assert ">Confirm</button>" in confirm.text
    assert server.runtime.catalog.get("shop") is not None  # asking removes nothing
    plain = await server.client.get("/apps/remove", params={"url": shop.url})
    assert "<h1>Remove app</h1>" in plain.text
    removed = await server.client.post("/apps/remove", data={"url": shop.url}, headers=HTMX)
    assert removed.status_code == 204
    assert removed.headers["HX-Redirect"] == "/apps"
    assert server.runtime.catalog.apps() == []
    assert server.runtime.syncer.urls() == []
    assert server.runtime.engine.registry.get("shop-hello") is None
    assert "No apps are synced yet" in (await server.client.get("/apps")).text


async def test_removing_an_unknown_url_is_a_404(server: Server) -> None:
    asked = await server.client.get("/apps/remove", params={"url": "http://nowhere/"})
    assert asked.status_code == 404
    done = await server.client.post("/apps/remove", data={"url": "http://nowhere/"}, headers=HTMX)
    assert done.status_code == 404
    assert "No app is served at" in done.text


async def test_connect_workers_show_under_their_app(server: Server, shop: FakeSdk) -> None:
    from stepwell.drivers.connect.hub import Link

    await server.client.post("/apps/sync", data={"url": shop.url}, headers=HTMX)
    [app] = server.runtime.catalog.apps()
    assert 'class="sw-worker"' not in (await server.client.get("/apps")).text

    async def send(data: bytes) -> None:
        del data  # nothing is sent to this worker here

    link = Link(
        conn_id="01JCONNECTIONAAAAAAAAAAAAAA",
        instance_id="worker-one",
        send=send,
        apps={"shop": app.app_uuid},
        slugs={"shop-hello": "shop", "shop-order": "shop"},
        capacity=3,
        sdk="py:v0.5.19",
        connected_at_ms=1_767_225_600_000,
    )
    server.runtime.connect_hub.add(link)
    page = (await server.client.get("/apps")).text
    assert 'id="worker-01JCONNECTIONAAAAAAAAAAAAAA"' in page
    assert "worker-one" in page
    assert "<dd>1 connected</dd>" in page
    assert ">CONNECTED</span>" in page  # not ready yet: it gets no work
    assert "<td>0 of 3</td>" in page  # in flight, of its capacity
    assert '<time datetime="2026-01-01T00:00:00.000Z">' in page
    server.runtime.connect_hub.make_ready(link)
    assert ">READY</span>" in (await server.client.get("/apps")).text
    server.runtime.connect_hub.remove(link)
    assert "worker-one" not in (await server.client.get("/apps")).text
