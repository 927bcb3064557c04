"""The event API over HTTP (protocol.md §2): bodies, ids, seeds, refusals, event keys."""

from __future__ import annotations

import base64
import json

from ulid import ULID

from tests.integration.server.harness import FakeSdk, Server, running_server

SEED_MILLIS = 1_795_510_687_106
SEED_ENTROPY = bytes(range(1, 11))


def seed_header(millis: int = SEED_MILLIS, entropy: bytes = SEED_ENTROPY) -> dict[str, str]:
    return {"X-Inngest-Event-Id-Seed": f"{millis},{base64.b64encode(entropy).decode()}"}


def expected_seeded_id(index: int) -> str:
    """§2.3: time = the seed's millis; entropy = its 10 bytes, bytes 6..10 += index."""
    counter = int.from_bytes(SEED_ENTROPY[6:10], "big") + index
    raw = SEED_MILLIS.to_bytes(6, "big") + SEED_ENTROPY[:6] + counter.to_bytes(4, "big")
    return str(ULID.from_bytes(raw))


async def stored_names(server: Server) -> list[str]:
    response = await server.client.get("/v1/events", params={"limit": 1000})
    names = [event["name"] for event in response.json()["data"]]
    return [name for name in names if not name.startswith("inngest/")]


async def test_a_single_event_is_stored_and_starts_its_function(
    server: Server, shop: FakeSdk
) -> None:
    response = await server.client.post(
        "/e/any-key", json={"name": "shop/hello", "data": {"n": 1}, "id": "order-1"}
    )
    assert response.status_code == 200
    assert response.headers["x-inngest-server-kind"] == "dev"
    body = response.json()
    assert body["status"] == 200
    [event_id] = body["ids"]
    assert ULID.from_str(event_id)  # ours, not the sender's "order-1"
    stored = (await server.client.get(f"/v1/events/{event_id}")).json()["data"]
    assert (stored["name"], stored["data"], stored["id"]) == ("shop/hello", {"n": 1}, "order-1")
    [run_id] = await server.runs_of(event_id)
    await server.wait_for_status(run_id, "Completed")
    [call] = shop.calls_of("hello")
    assert call.body["event"]["id"] == "order-1"


async def test_an_array_body_returns_one_id_per_event_in_order(server: Server) -> None:
    events = [{"name": f"shop/batch.{i}", "data": {"i": i}} for i in range(3)]
    response = await server.client.post("/e/NO_EVENT_KEY_SET", json=events)
    assert response.status_code == 200
    ids = response.json()["ids"]
    assert len(ids) == 3
    for event_id, sent in zip(ids, events, strict=True):
        stored = (await server.client.get(f"/v1/events/{event_id}")).json()["data"]
        assert (stored["name"], stored["data"]) == (sent["name"], sent["data"])


async def test_an_empty_array_is_accepted_with_no_ids(server: Server) -> None:
    response = await server.client.post("/e/key", json=[])
    assert (response.status_code, response.json()) == (200, {"ids": [], "status": 200})


async def test_seeded_ids_follow_the_seed_and_a_retry_changes_nothing(
    server: Server, shop: FakeSdk
) -> None:
    events = [{"name": "shop/hello", "data": {}}, {"name": "shop/other", "data": {}}]
    first = await server.client.post("/e/key", json=events, headers=seed_header())
    assert first.status_code == 200, first.text
    ids = first.json()["ids"]
    assert ids == [expected_seeded_id(0), expected_seeded_id(1)]
    await server.runs_of(ids[0])

    # An SDK that lost the answer sends the same body with the same seed again.
    retried = await server.client.post("/e/key", json=events, headers=seed_header())
    assert (retried.status_code, retried.json()) == (200, {"ids": ids, "status": 200})
    assert await stored_names(server) == ["shop/other", "shop/hello"]
    assert len(await server.runs_of(ids[0])) == 1

    other = await server.client.post(
        "/e/key", json=events[:1], headers=seed_header(entropy=bytes(10))
    )
    assert other.json()["ids"][0] not in ids

    # The same seed for a different batch would collide with the ids already taken.
    reused = await server.client.post("/e/key", json=events * 2, headers=seed_header())
    assert reused.status_code == 400
    assert reused.json()["error"].startswith("X-Inngest-Event-Id-Seed: this seed was used")


async def test_a_malformed_seed_falls_back_to_random_ids(server: Server) -> None:
    header = {"X-Inngest-Event-Id-Seed": "not-a-seed"}
    one = await server.client.post("/e/key", json={"name": "a/b"}, headers=header)
    two = await server.client.post("/e/key", json={"name": "a/b"}, headers=header)
    assert one.status_code == two.status_code == 200
    assert one.json()["ids"] != two.json()["ids"]


async def test_bad_json_is_refused_with_the_event_api_shape(server: Server) -> None:
    response = await server.client.post(
        "/e/key", content=b'{"name": "a/b",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["ids"], body["status"]) == ([], 400)
    assert body["error"].startswith("Invalid request: the body is not valid JSON")


async def test_reserved_names_are_refused_and_nothing_of_the_batch_is_stored(
    server: Server,
) -> None:
    for name in ("inngest/function.finished", "INNGEST/Anything"):
        batch = [{"name": "shop/fine"}, {"name": name}]
        response = await server.client.post("/e/key", json=batch)
        assert response.status_code == 400
        body = response.json()
        assert (body["ids"], body["status"]) == ([], 400)
        assert body["error"] == (
            f"event 1: name {name!r} is reserved for internal use (prefix 'inngest/')"
        )
    assert await stored_names(server) == []


async def test_invalid_events_are_refused_with_the_reason(server: Server) -> None:
    cases = {
        json.dumps({"data": {}}): "event 0: name must be a non-empty string",
        json.dumps({"name": "a/b", "data": [1]}): "event 0: data must be a JSON object, got list",
        json.dumps({"name": "a/b", "ts": "now"}): "event 0: ts must be an integer",
        json.dumps("just a string"): "event 0: expected an event object, got str",
    }
    for body, reason in cases.items():
        response = await server.client.post("/e/key", content=body.encode())
        assert response.status_code == 400, body
        assert response.json()["error"].startswith(reason), response.json()


async def test_more_than_5000_events_are_refused(server: Server) -> None:
    batch = [{"name": "shop/many"}] * 5001
    response = await server.client.post("/e/key", json=batch)
    assert response.status_code == 400
    assert response.json() == {
        "ids": [],
        "status": 400,
        "error": "at most 5000 events per request",
    }
    accepted = await server.client.post("/e/key", json=batch[:5000])
    assert accepted.status_code == 200
    assert len(accepted.json()["ids"]) == 5000


async def test_an_oversized_event_is_refused(server: Server) -> None:
    limit = server.runtime.config.max_event_bytes
    big = {"name": "shop/big", "data": {"blob": "x" * limit}}
    response = await server.client.post("/e/key", json=big)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("event 0: payload is ")
    assert error.endswith(f"bytes, over the limit of {limit} bytes")
    fits = {"name": "shop/big", "data": {"blob": "x" * (limit - 100)}}
    assert (await server.client.post("/e/key", json=fits)).status_code == 200


async def test_start_mode_checks_event_keys(db_url: str) -> None:
    async with running_server(
        db_url, dev=False, signing_key="signkey-test-0a1b2c3d", event_keys=["key-1", "key-2"]
    ) as server:
        event = {"name": "shop/hello"}
        wrong = await server.client.post("/e/nope", json=event)
        assert wrong.status_code == 401
        assert wrong.json() == {"status": 401, "message": "", "error": "Event key not found"}
        assert wrong.headers["x-inngest-server-kind"] == "cloud"
        missing = await server.client.post("/e/", json=event)
        assert missing.status_code == 401
        assert missing.json() == {"status": 401, "message": "", "error": "Event key is required"}
        for key in ("key-1", "key-2"):
            accepted = await server.client.post(f"/e/{key}", json=event)
            assert accepted.status_code == 200, accepted.text
            assert len(accepted.json()["ids"]) == 1


async def test_start_mode_without_event_keys_is_unavailable(db_url: str) -> None:
    async with running_server(db_url, dev=False, signing_key="signkey-test-0a1b2c3d") as server:
        response = await server.client.post("/e/anything", json={"name": "shop/hello"})
        assert response.status_code == 503
        assert response.json() == {
            "status": 503,
            "message": "",
            "error": "No event keys are configured",
        }


async def test_invoke_starts_a_function_by_slug(server: Server, shop: FakeSdk) -> None:
    response = await server.client.post("/invoke/shop-hello", json={"data": {"who": "me"}})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == 200
    [run_id] = await server.runs_of(body["id"])
    await server.wait_for_status(run_id, "Completed")
    [call] = shop.calls_of("hello")
    assert call.body["event"]["name"] == "inngest/function.invoked"
    assert call.body["event"]["data"]["who"] == "me"
    unknown = await server.client.post("/invoke/shop-nope", json={})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "function 'shop-nope' not found"


async def test_an_oversized_request_body_is_refused_with_413(server: Server) -> None:
    # Over the whole-request cap of 64 MiB (each event may be 3 MiB, as on Inngest).
    body = b'[{"name":"big/x","data":{"blob":"' + b"x" * (64 * 1024 * 1024) + b'"}}]'
    response = await server.client.post(
        "/e/key", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"].startswith("the request body is ")
    assert response.json()["ids"] == []
