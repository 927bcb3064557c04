"""The events pages over a real dev server (SQLite, uvicorn on loopback) and a synced fake app:
the list (newest first, filtered, paged), an event's page (payload, runs, curl), Replay, and the
Send event dialog's endpoint with each way an event can be wrong."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from stepwell.dashboard import DashboardContext, dashboard_routes
from stepwell.server.app import create_app
from stepwell.server.config import ServerConfig
from stepwell.server.runtime import ServerRuntime
from tests.integration.server.conftest import shop_functions
from tests.integration.server.harness import FakeSdk, Server, _bound_socket, running_sdk, serving

HTMX = {"HX-Request": "true"}


@contextlib.asynccontextmanager
async def dashboard_server(db_url: str, **options: Any) -> AsyncIterator[Server]:
    """``stepwell dev`` as cli.serve builds it: the API and the dashboard on one port."""
    sock = _bound_socket()
    port = sock.getsockname()[1]
    options.setdefault("discovery", False)
    options.setdefault("poll_interval_s", 3600.0)
    config = ServerConfig(host="127.0.0.1", port=port, database=db_url, **options)
    runtime = ServerRuntime(config)
    app = create_app(runtime, extra_routes=dashboard_routes(DashboardContext.serving(runtime)))
    url = f"http://127.0.0.1:{port}"
    async with serving(app, sock), httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        yield Server(url=url, runtime=runtime, client=client)


@pytest.fixture
async def server(sqlite_url: str) -> AsyncIterator[Server]:
    async with dashboard_server(sqlite_url) as running:
        yield running


@pytest.fixture
async def shop(server: Server) -> AsyncIterator[FakeSdk]:
    async with running_sdk(FakeSdk("shop", shop_functions()), server.url) as sdk:
        assert (await sdk.sync())["ok"] is True
        yield sdk


async def send_from_dialog(server: Server, text: str) -> httpx.Response:
    return await server.client.post("/ui/events/send", data={"event": text}, headers=HTMX)


def event_link(html: str) -> str:
    found = re.search(r'href="/events/([0-9A-Z]{26})"', html)
    assert found, html
    return found.group(1)


async def test_a_sent_event_is_linked_listed_and_shown_with_its_runs(
    server: Server, shop: FakeSdk
) -> None:
    answer = await send_from_dialog(server, '{"name": "shop/hello", "data": {"n": 1}}')
    assert answer.status_code == 200, answer.text
    event_id = event_link(answer.text)
    run_ids = await server.runs_of(event_id)
    await server.wait_for_status(run_ids[0], "Completed")

    listing = await server.client.get("/events")
    assert listing.status_code == 200
    assert f'href="/events/{event_id}"' in listing.text
    assert "shop/hello" in listing.text

    page = await server.client.get(f"/events/{event_id}")
    assert page.status_code == 200
    assert "&#34;n&#34;: 1" in page.text  # the payload, pretty and escaped
    assert f'href="/runs/{run_ids[0]}"' in page.text
    assert "Completed" in page.text
    assert (
        f"curl -X POST {server.url}/e/dev -H &#39;Content-Type: application/json&#39;" in page.text
    )
    assert "&#34;name&#34;:&#34;shop/hello&#34;" in page.text


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"name": "shop/hello", "data": ', "not valid JSON"),
        ("", "write some JSON"),
        ('["shop/hello"]', "expected a JSON object"),
        ('{"data": {}}', "every event needs a name"),
        ('{"name": "inngest/function.finished", "data": {}}', "inngest/"),
        ('{"name": "shop/hello", "data": 7}', "data"),
        ('{"name": "shop/hello", "data": {"x": NaN}}', "NaN"),
    ],
)
async def test_a_wrong_event_is_refused_saying_why_and_nothing_is_stored(
    server: Server, text: str, says: str
) -> None:
    answer = await send_from_dialog(server, text)
    assert answer.status_code == 400, answer.text
    assert 'role="alert"' in answer.text
    assert says in answer.text
    assert await server.runtime.engine.history.list_events() == []


async def test_junk_bodies_and_unknown_ids_get_4xx(server: Server) -> None:
    junk = await server.client.post(
        "/ui/events/send", content=b"\xff\xfe=%%%", headers={**HTMX, "content-type": "x/y"}
    )
    assert junk.status_code == 400, junk.text
    missing = await server.client.get("/events/01JZZZZZZZZZZZZZZZZZZZZZZZ")
    assert missing.status_code == 404
    assert "No such event" in missing.text
    long = await server.client.get("/events/" + "x" * 500)
    assert long.status_code == 404
    replay = await server.client.post("/events/nope/replay", headers=HTMX)
    assert replay.status_code == 404
    assert "No event has the id" in replay.text
    paged = await server.client.get("/events", params={"before": "junk\u0000", "name": "x" * 999})
    assert paged.status_code == 200


async def test_replay_sends_the_same_event_again_and_leads_to_it(
    server: Server, shop: FakeSdk
) -> None:
    (first,) = await server.send({"name": "shop/hello", "data": {"k": "v"}, "id": "once"})
    await server.runs_of(first)
    answer = await server.client.post(f"/events/{first}/replay", headers=HTMX)
    assert answer.status_code == 204, answer.text
    new_id = answer.headers["HX-Redirect"].removeprefix("/events/")
    assert new_id != first
    (copy,) = await server.runtime.engine.history.get_events([new_id])
    assert (copy.event.name, copy.event.data, copy.event.id) == ("shop/hello", {"k": "v"}, "")
    await server.runs_of(new_id)  # it started a run of its own
    plain = await server.client.post(f"/events/{first}/replay", data={"token": ""})
    assert plain.status_code == 303
    assert plain.headers["location"].startswith("/events/")


async def test_system_events_are_not_replayed(server: Server, shop: FakeSdk) -> None:
    (sent,) = await server.send({"name": "shop/hello", "data": {}})
    await server.wait_for_status((await server.runs_of(sent))[0], "Completed")
    (finished,) = await server.runtime.engine.history.list_events(name="inngest/function.finished")
    page = await server.client.get(f"/events/{finished.internal_id}")
    assert "disabled" in page.text
    assert "sent by the server itself" in page.text
    before = len(await server.runtime.engine.history.list_events())
    refused = await server.client.post(f"/events/{finished.internal_id}/replay", headers=HTMX)
    assert refused.status_code == 409
    assert len(await server.runtime.engine.history.list_events()) == before


async def test_the_list_is_newest_first_filtered_by_name_and_paged(server: Server) -> None:
    ids = await server.send(*[{"name": f"a/{i % 2}", "data": {"i": i}} for i in range(55)])
    page = (await server.client.get("/events")).text
    shown = re.findall(r'href="/events/([0-9A-Z]{26})"', page)
    assert shown == list(reversed(ids))[:50]
    older = re.search(r'before=([0-9A-Z]{26})">Older events', page)
    assert older is not None
    second = (await server.client.get(f"/events?before={older.group(1)}")).text
    assert re.findall(r'href="/events/([0-9A-Z]{26})"', second) == list(reversed(ids))[50:]
    only = (await server.client.get("/events", params={"name": "a/1"})).text
    assert set(re.findall(r'href="/events/([0-9A-Z]{26})"', only)) == set(ids[1::2])
    none = (await server.client.get("/events", params={"name": "nobody"})).text
    assert "No event named" in none
