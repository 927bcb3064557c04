"""The functions pages over a real dev server and synced fake apps: triggers (crons with their
next fire time), flow control in words, run counts, Invoke, Pause, Resume and Replay."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.integration.dashboard.test_events_page import HTMX, dashboard_server
from tests.integration.server.conftest import hello, shop_functions
from tests.integration.server.harness import FakeFunction, FakeSdk, Server, running_sdk


class FlowSdk(FakeSdk):
    """An app whose one function carries every flow-control rule, and a cron function."""

    def registration(self) -> dict[str, Any]:
        payload = super().registration()
        payload["functions"][0].update(
            {
                "concurrency": [{"limit": 2, "key": "event.data.user"}],
                "throttle": {"limit": 5, "period": "1m", "burst": 2},
                "rateLimit": {"limit": 10, "period": "1h"},
                "debounce": {"period": "5s", "timeout": "1m"},
                "priority": {"run": "event.data.vip ? 60 : 0"},
                "timeouts": {"start": "30s", "finish": "10m"},
                "cancel": [{"event": "rules/cancel", "if": "async.data.id == event.data.id"}],
            }
        )
        return payload


@pytest.fixture
async def server(sqlite_url: str) -> AsyncIterator[Server]:
    async with dashboard_server(sqlite_url) as running:
        yield running


@pytest.fixture
async def shop(server: Server) -> AsyncIterator[FakeSdk]:
    async with running_sdk(FakeSdk("shop", shop_functions()), server.url) as sdk:
        assert (await sdk.sync())["ok"] is True
        yield sdk


async def test_every_function_is_listed_with_its_app_triggers_and_counts(
    server: Server, shop: FakeSdk
) -> None:
    (sent,) = await server.send({"name": "shop/hello", "data": {}})
    await server.wait_for_status((await server.runs_of(sent))[0], "Completed")
    page = await server.client.get("/functions")
    assert page.status_code == 200
    for slug in ("shop-hello", "shop-steps", "shop-fails", "shop-waits"):
        assert f'href="/functions/{slug}"' in page.text
    assert "<code>shop/hello</code>" in page.text
    assert "1 Completed" in page.text


async def test_flow_control_and_crons_are_said_in_words(server: Server) -> None:
    functions = [
        FakeFunction("rules", [{"event": "rules/go", "expression": "event.data.n > 1"}], hello),
        FakeFunction("nightly", [{"cron": "TZ=Europe/Paris 0 3 * * *"}], hello),
    ]
    async with running_sdk(FlowSdk("rules", functions), server.url) as sdk:
        assert (await sdk.sync())["ok"] is True
        rules = (await server.client.get("/functions/rules-rules")).text
        for words in (
            "if event.data.n &gt; 1",
            "at most 2 running at once, per event.data.user",
            "at most 5 starts every 1 m 00 s (bursts of 2 more)",
            "at most 10 runs every 1 h 00 m",
            "starts 5.0 s after the last event, at most 1 m 00 s after the first",
            "runs earlier by event.data.vip ? 60 : 0 seconds",
            "cancelled if not started within 30.0 s",
            "when rules/cancel arrives and async.data.id == event.data.id",
        ):
            assert words in rules, words
        nightly = (await server.client.get("/functions/rules-nightly")).text
        assert re.search(r"next at 2\d{3}-\d\d-\d\dT0[12]:00:00", nightly), nightly


async def test_invoke_starts_a_run_with_the_data(server: Server, shop: FakeSdk) -> None:
    answer = await server.client.post(
        "/functions/shop-hello/invoke", data={"data": '{"who": "dashboard"}'}, headers=HTMX
    )
    assert answer.status_code == 200, answer.text
    found = re.search(r'href="/events/([0-9A-Z]{26})"', answer.text)
    assert found is not None
    (run_id,) = await server.runs_of(found.group(1))
    await server.wait_for_status(run_id, "Completed")
    assert shop.calls_of("hello")[-1].body["event"]["data"]["who"] == "dashboard"


@pytest.mark.parametrize(
    ("path", "data", "status", "says"),
    [
        ("/functions/shop-hello/invoke", {"data": "{nope"}, 400, "not valid JSON"),
        ("/functions/shop-hello/invoke", {"data": "[1]"}, 400, "expected a JSON object"),
        ("/functions/nobody/invoke", {"data": "{}"}, 404, "No function has the id"),
        ("/functions/nobody/pause", {}, 404, "No function has the id"),
        ("/functions/shop-hello/replay", {}, 409, "is not paused"),
    ],
)
async def test_wrong_actions_are_refused_saying_why(
    server: Server, shop: FakeSdk, path: str, data: dict[str, str], status: int, says: str
) -> None:
    answer = await server.client.post(path, data=data, headers=HTMX)
    assert answer.status_code == status, answer.text
    assert says in answer.text
    assert await server.runtime.engine.history.list_events() == []


async def test_an_unknown_function_page_is_a_404(server: Server) -> None:
    page = await server.client.get("/functions/nobody")
    assert page.status_code == 404
    assert "No such function" in page.text


async def test_pause_keeps_events_and_replay_resumes_and_starts_them(
    server: Server, shop: FakeSdk
) -> None:
    paused = await server.client.post("/functions/shop-hello/pause", headers=HTMX)
    assert paused.status_code == 204
    assert paused.headers["HX-Redirect"] == "/functions/shop-hello"
    page = (await server.client.get("/functions/shop-hello")).text
    assert ">Resume</button>" in page
    assert ">Replay</button>" in page
    assert "Paused since" in page
    kept = await server.send({"name": "shop/hello", "data": {"kept": 1}})
    assert await server.runtime.engine.history.list_runs(event_id=kept[0]) == []
    assert "1 event kept" in (await server.client.get("/functions/shop-hello")).text

    replayed = await server.client.post("/functions/shop-hello/replay", headers=HTMX)
    assert replayed.headers["HX-Redirect"] == "/functions/shop-hello?replayed=1"
    page = (await server.client.get(replayed.headers["HX-Redirect"])).text
    assert "started 1 run for the kept events" in page
    assert ">Pause</button>" in page
    (run,) = await server.runtime.engine.history.list_runs(function_id="shop-hello")
    assert run.event_ids == kept


async def test_resume_leaves_kept_events_alone(server: Server, shop: FakeSdk) -> None:
    await server.client.post("/functions/shop-hello/pause", headers=HTMX)
    await server.send({"name": "shop/hello", "data": {}})
    resumed = await server.client.post("/functions/shop-hello/resume", data={"token": ""})
    assert resumed.status_code == 303
    assert ">Pause</button>" in (await server.client.get("/functions/shop-hello")).text
    assert await server.runtime.engine.history.list_runs(function_id="shop-hello") == []
