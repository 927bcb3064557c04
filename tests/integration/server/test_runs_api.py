"""REST v1 over HTTP (protocol.md §8): events, runs, runs of an event, cancel, signals."""

from __future__ import annotations

from typing import Any

from stepwell.protocol.signing import hashed_key
from tests.integration.server.conftest import FIRST, SECOND
from tests.integration.server.harness import FakeSdk, Server, running_server
from tests.waiting import eventually


async def events_named(server: Server, name: str) -> list[dict[str, Any]]:
    response = await server.client.get("/v1/events", params={"name": name})
    assert response.status_code == 200
    events: list[dict[str, Any]] = response.json()["data"]
    return events


async def test_a_completed_run_and_its_event(server: Server, shop: FakeSdk) -> None:
    [event_id] = await server.send({"name": "shop/steps", "data": {"order": 7}})
    [run_id] = await server.runs_of(event_id)
    await server.wait_for_status(run_id, "Completed")

    run = (await server.client.get(f"/v1/runs/{run_id}")).json()["data"]
    assert run["run_id"] == run_id
    assert run["function_slug"] == "shop-steps"
    assert run["event_id"] == event_id
    assert run["output"] == ["one", "one+two"]
    assert run["run_started_at"]
    assert run["ended_at"]

    listed = (await server.client.get(f"/v1/events/{event_id}/runs")).json()["data"]
    assert [r["run_id"] for r in listed] == [run_id]
    assert listed[0]["status"] == "Completed"

    event = (await server.client.get(f"/v1/events/{event_id}")).json()
    assert event["data"]["internal_id"] == event_id
    assert event["data"]["data"] == {"order": 7}
    assert event["metadata"]["fetched_at"]

    # The SDK saw the memo grow one step per call (§5.4).
    calls = shop.calls_of("steps")
    assert [sorted(call.body["steps"]) for call in calls] == [[], [FIRST], sorted([FIRST, SECOND])]

    [finished] = await events_named(server, "inngest/function.finished")
    assert finished["data"]["run_id"] == run_id
    assert finished["data"]["result"] == ["one", "one+two"]


async def test_a_failed_run_reports_its_error(server: Server, shop: FakeSdk) -> None:
    [event_id] = await server.send({"name": "shop/fails"})
    [run_id] = await server.runs_of(event_id)
    await server.wait_for_status(run_id, "Failed")
    run = (await server.client.get(f"/v1/runs/{run_id}")).json()["data"]
    assert run["output"]["message"] == "broken step"
    [failed] = await events_named(server, "inngest/function.failed")
    assert failed["id"] == run_id
    assert failed["data"]["function_id"] == "shop-fails"


async def test_listing_events_pages_back_by_cursor(server: Server) -> None:
    ids = await server.send(*({"name": "shop/page", "data": {"i": i}} for i in range(5)))
    first = (await server.client.get("/v1/events", params={"limit": 2})).json()["data"]
    assert [e["internal_id"] for e in first] == ids[::-1][:2]
    cursor = first[-1]["internal_id"]
    rest = await server.client.get("/v1/events", params={"limit": 10, "cursor": cursor})
    assert [e["internal_id"] for e in rest.json()["data"]] == ids[::-1][2:]
    assert [e["data"]["i"] for e in await events_named(server, "shop/page")] == [4, 3, 2, 1, 0]


async def test_unknown_ids_are_404(server: Server) -> None:
    for path in ("/v1/events/01HZZZZZZZZZZZZZZZZZZZZZZZ", "/v1/runs/01HZZZZZZZZZZZZZZZZZZZZZZZ"):
        response = await server.client.get(path)
        assert response.status_code == 404
        assert response.json()["status"] == 404
    runs = await server.client.get("/v1/events/01HZZZZZZZZZZZZZZZZZZZZZZZ/runs")
    assert runs.json()["data"] == []
    cancel = await server.client.delete("/v1/runs/01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert (cancel.status_code, cancel.json()["error"]) == (404, "run not found")


async def test_cancel_a_waiting_run_with_delete(server: Server, shop: FakeSdk) -> None:
    [event_id] = await server.send({"name": "shop/waits"})
    [run_id] = await server.runs_of(event_id)
    await server.wait_for_status(run_id, "Running")
    await eventually(lambda: len(shop.calls_of("waits")) == 1, what="the first call")

    response = await server.client.delete(f"/v1/runs/{run_id}")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "Cancelled"
    assert await server.run_status(run_id) == "Cancelled"
    [cancelled] = await events_named(server, "inngest/function.cancelled")
    assert cancelled["data"]["run_id"] == run_id

    # Cancelling again changes nothing; the matching event no longer resumes anything.
    again = await server.client.delete(f"/v0/runs/{run_id}")
    assert again.json()["data"]["status"] == "Cancelled"
    await server.send({"name": "shop/never"})
    assert len(shop.calls_of("waits")) == 1


async def test_signals(server: Server, shop: FakeSdk) -> None:
    nobody = await server.client.post("/v1/signals", json={"signal": "sig-1", "data": {}})
    assert nobody.status_code == 404
    assert nobody.json() == {"error": "no run is waiting for signal 'sig-1'", "status": 404}
    unnamed = await server.client.post("/v1/signals", json={"data": {}})
    assert unnamed.status_code == 400

    [event_id] = await server.send({"name": "shop/signalled", "data": {"signal": "sig-1"}})
    [run_id] = await server.runs_of(event_id)
    resumed: dict[str, Any] = {}

    async def delivered() -> bool:
        response = await server.client.post(
            "/v1/signals", json={"signal": "sig-1", "data": {"ok": True}}
        )
        resumed.clear()  # the last answer only: earlier ones were 404s
        resumed.update(response.json())
        return response.status_code == 200

    await eventually(delivered, what="the run waits for the signal")
    assert resumed == {"data": {"run_id": run_id}}
    await server.wait_for_status(run_id, "Completed")
    run = (await server.client.get(f"/v1/runs/{run_id}")).json()["data"]
    assert run["output"] == {"signal": "sig-1", "data": {"ok": True}}
    again = await server.client.post("/v1/signals", json={"signal": "sig-1", "data": {}})
    assert again.status_code == 404


async def test_start_mode_requires_the_signing_key_for_v1(db_url: str) -> None:
    key = "signkey-prod-12345678"
    async with running_server(db_url, dev=False, signing_key=key, event_keys=["k"]) as server:
        [event_id] = (await server.client.post("/e/k", json={"name": "a/b"})).json()["ids"]
        for method, path in (
            ("GET", "/v1/events"),
            ("GET", f"/v1/events/{event_id}"),
            ("GET", f"/v1/events/{event_id}/runs"),
            ("GET", "/v1/runs/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
            ("DELETE", "/v1/runs/01HZZZZZZZZZZZZZZZZZZZZZZZ"),
            ("POST", "/v1/signals"),
        ):
            refused = await server.client.request(method, path, json={"signal": "s"})
            assert refused.status_code == 401, (method, path)
        bearer = {"Authorization": f"Bearer {hashed_key(key)}"}
        allowed = await server.client.get(f"/v1/events/{event_id}", headers=bearer)
        assert allowed.status_code == 200
        assert allowed.json()["data"]["name"] == "a/b"
