"""Named regressions for hostile and careless input (each case found by trying to break the server):
a precise 4xx, nothing stored or changed, and the server still serving afterwards."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from collections.abc import MutableMapping
from typing import Any

import httpx

from stepwell.ports.driver import Errored, ExecutionRequest
from stepwell.ports.records import AppRecord, StoredEvent
from stepwell.protocol.events import Event
from tests.integration.server.harness import (
    FakeFunction,
    FakeSdk,
    Reply,
    Server,
    ops,
    running_sdk,
    running_server,
    step_hash,
    step_run,
)
from tests.integration.server.test_sync_api import dev_functions, py_payload

SURROGATE = "\\ud800"  # a lone surrogate, as JSON text writes it


def raw(text: str) -> dict[str, Any]:
    return {"content": text.encode("utf-8"), "headers": {"Content-Type": "application/json"}}


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


async def stored_event_names(server: Server) -> list[str]:
    response = await server.client.get("/v1/events")
    assert response.status_code == 200, response.text
    return [e["name"] for e in response.json()["data"]]


# -- syncs: validate, then mutate -------------------------------------------------------------


async def test_a_cron_that_never_fires_is_refused_and_nothing_is_stored(db_url: str) -> None:
    async with running_server(db_url) as server:
        payload = py_payload()
        payload["functions"][0]["triggers"] = [{"cron": "0 0 30 2 *"}]
        refused = await server.client.post("/fn/register", json=payload)
        assert refused.status_code == 400
        assert "never fires" in refused.json()["error"]
        assert "functions[0]" in refused.json()["error"]
        assert await server.runtime.engine.store.list_apps() == []
        good = await server.client.post("/fn/register", json=py_payload())
        assert good.status_code == 200, good.text
    # And a server on this database starts again.
    async with running_server(db_url) as again:
        assert set(await dev_functions(again)) == {"myapp-first", "myapp-second"}


async def test_a_refused_sync_leaves_the_registry_as_it_was(server: Server) -> None:
    assert (await server.client.post("/fn/register", json=py_payload())).status_code == 200
    text = json.dumps(py_payload()).replace('"myapp-first"', f'"myapp-{SURROGATE}"')
    refused = await server.client.post("/fn/register", **raw(text))
    assert refused.status_code == 400
    assert "surrogate" in refused.json()["error"]
    assert set(await dev_functions(server)) == {"myapp-first", "myapp-second"}
    changed = py_payload()
    changed["functions"].pop()
    later = await server.client.post("/fn/register", json=changed)
    assert later.status_code == 200, later.text
    assert set(await dev_functions(server)) == {"myapp-first"}


async def test_bad_expressions_jitters_and_crons_are_refused_naming_the_field(
    server: Server,
) -> None:
    cases = [
        ({"event": "a/b", "expression": "event.data.x >"}, "expression"),
        ({"cron": "0 * * * *", "jitter": "9999999999999999999h"}, "triggers[0]"),
        ({"cron": "0 0 31 4 *"}, "never fires"),
        ({"cron": "61 * * * *"}, "cron"),
    ]
    for trigger, named in cases:
        payload = py_payload()
        payload["functions"][0]["triggers"] = [trigger]
        refused = await server.client.post("/fn/register", json=payload)
        assert refused.status_code == 400, (trigger, refused.text)
        assert named in refused.json()["error"], (trigger, refused.text)
    assert await server.runtime.engine.store.list_apps() == []


async def test_a_stored_app_that_no_longer_parses_is_skipped_at_start(db_url: str) -> None:
    async with running_server(db_url) as server:
        assert (await server.client.post("/fn/register", json=py_payload())).status_code == 200
        # What an older version (or a bug) might have stored: a schedule that never fires.
        broken = copy.deepcopy(py_payload("broken", "http://127.0.0.1:9/broken"))
        broken["functions"][0]["triggers"] = [{"cron": "0 0 30 2 *"}]
        await server.runtime.engine.store.save_app(
            AppRecord("broken", broken["url"], "x", broken, "00000000-0000-0000-0000-0", 1)
        )
    async with running_server(db_url) as again:
        assert (await again.client.get("/health")).status_code == 200
        assert set(await dev_functions(again)) == {"myapp-first", "myapp-second"}
        assert "never fires" in again.runtime.catalog.load_problems["broken"]
        # A fresh, valid sync of the same app replaces the broken one.
        fixed = await again.client.post(
            "/fn/register", json=py_payload("broken", "http://127.0.0.1:9/broken")
        )
        assert fixed.status_code == 200, fixed.text
        assert "broken" not in again.runtime.catalog.load_problems


# -- events: JSON Python accepts but JSON does not ----------------------------------------------


async def test_nan_infinity_and_lone_surrogates_are_refused_everywhere(server: Server) -> None:
    bodies = [
        '{"name": "a/b", "data": {"x": NaN}}',
        '{"name": "a/b", "data": {"x": Infinity}}',
        '{"name": "a/b", "data": {"x": -Infinity}}',
        '{"name": "a/b", "data": {"x": 1e400}}',
        f'{{"name": "a/{SURROGATE}"}}',
        f'{{"name": "a/b", "id": "{SURROGATE}"}}',
        f'{{"name": "a/b", "data": {{"{SURROGATE}": 1}}}}',
        f'{{"name": "a/b", "data": {{"x": "{SURROGATE}"}}}}',
        '{"name": "a/b", "data": {"x": 123456789012345678901234567890}}',
    ]
    for body in bodies:
        response = await server.client.post("/e/key", **raw(body))
        assert response.status_code == 400, (body, response.text)
        assert response.json()["ids"] == []
        assert "not valid JSON" in response.json()["error"], response.text
    assert await stored_event_names(server) == []


async def test_invoke_and_graphql_refuse_what_json_does_not_allow(
    server: Server, shop: FakeSdk
) -> None:
    for body in ('{"data": {"x": NaN}}', f'{{"data": {{"x": "{SURROGATE}"}}}}'):
        response = await server.client.post("/invoke/shop-hello", **raw(body))
        assert response.status_code == 400, response.text
    too_big = {"data": {"blob": "x" * (server.runtime.config.max_event_bytes + 1)}}
    response = await server.client.post("/invoke/shop-hello", json=too_big)
    assert response.status_code == 400
    assert "over the limit" in response.json()["error"]
    # GraphQL takes a float literal that is infinite once read; it is refused as an event.
    mutation = 'mutation { invokeFunction(functionSlug: "shop-hello", data: {x: 1e400}) }'
    answer = await server.client.post("/v0/gql", json={"query": mutation})
    assert answer.status_code < 500
    assert "errors" in answer.json()
    assert await stored_event_names(server) == []
    listed = await server.client.get("/v1/events")
    assert listed.status_code == 200


async def test_json_nested_1000_and_10000_deep_is_refused_on_every_json_route(
    server: Server,
) -> None:
    routes = [
        "/e/key",
        "/invoke/shop-hello",
        "/fn/register",
        "/v1/cancellations",
        "/v1/runs/x/rerun",
        "/v2/runs/x/rerun",
        "/v1/functions/x/replay",
        "/v1/signals",
        "/v1/checkpoint/x/async",
        "/v0/gql",
    ]
    for levels in (1000, 10_000):
        for route in routes:
            response = await server.client.post(route, **raw(deep(levels)))
            assert response.status_code == 400, (route, levels, response.text)
            assert "nested deeper" in response.text, (route, response.text)


async def test_lone_surrogates_in_operations_are_refused(server: Server) -> None:
    cases = [
        ("/v1/signals", f'{{"signal": "{SURROGATE}"}}'),
        ("/v1/runs/x/rerun", f'{{"from_step": "{SURROGATE}"}}'),
        ("/v1/cancellations", f'{{"function_id": "{SURROGATE}"}}'),
        ("/v0/gql", f'{{"query": "{{ apps {{ id }} }}", "operationName": "{SURROGATE}"}}'),
    ]
    for route, body in cases:
        response = await server.client.post(route, **raw(body))
        assert response.status_code == 400, (route, response.text)


# -- headers, query strings, types --------------------------------------------------------------


async def test_out_of_range_seeds_fall_back_to_random_ids(server: Server) -> None:
    entropy = base64.b64encode(bytes(10)).decode()
    for seed in (f"-5,{entropy}", f"{2**48},{entropy}", f"{10**30},{entropy}", "１２,AAAA"):
        response = await server.client.post(
            "/e/key", json={"name": "a/b"}, headers={b"X-Inngest-Event-Id-Seed": seed.encode()}
        )
        assert response.status_code == 200, (seed, response.text)


async def test_a_reused_seed_with_another_body_is_refused(server: Server) -> None:
    seed = {"X-Inngest-Event-Id-Seed": f"1700000000000,{base64.b64encode(bytes(10)).decode()}"}
    first = await server.client.post("/e/key", json={"name": "a/b", "data": {"n": 1}}, headers=seed)
    assert first.status_code == 200
    same = await server.client.post("/e/key", json={"name": "a/b", "data": {"n": 1}}, headers=seed)
    assert same.json()["ids"] == first.json()["ids"]
    other = await server.client.post("/e/key", json={"name": "a/b", "data": {"n": 2}}, headers=seed)
    assert other.status_code == 400
    assert "seed was used for other events" in other.json()["error"]
    [stored] = ((await server.client.get(f"/v1/events/{first.json()['ids'][0]}")).json()["data"],)
    assert stored["data"] == {"n": 1}


async def test_list_parameters_are_checked_and_clamped(server: Server) -> None:
    for query in (
        "limit=²",
        "limit=" + "9" * 5000,
        "limit=-1",
        "limit=0",
        "limit=abc",
        "received_after=" + "1" * 25,
        "received_before=not-a-time",
        "received_after=99999-01-01",
    ):
        response = await server.client.get(f"/v1/events?{query}")
        assert response.status_code == 400, (query, response.text)
        assert response.json()["error"].split(":")[0] in query, response.text
    for i in range(3):
        await server.send({"name": "a/b", "data": {"i": i}})
    clamped = await server.client.get("/v1/events?limit=5000")
    assert clamped.status_code == 200
    assert len(clamped.json()["data"]) == 3


async def test_operation_bodies_of_the_wrong_type_are_refused(server: Server) -> None:
    cases = [
        ("/v1/functions/x/replay", {"received_after": 2**63}),
        ("/v1/functions/x/replay", {"received_after": "yesterday"}),
        ("/v1/functions/x/replay", {"received_after": True}),
        ("/v1/runs/x/rerun", {"from_step": 5}),
        ("/v1/runs/x/rerun", {"from_step": ["a"]}),
        ("/v1/cancellations", {"function_id": 7}),
        ("/v1/cancellations", {"function_id": "f", "if": "event.data >"}),
        ("/v1/cancellations", {"function_id": "f", "started_after": 10**20}),
        ("/v1/signals", {"signal": {"a": 1}}),
        ("/v1/signals", ["signal"]),
        ("/v1/checkpoint/x/async", {"steps": [{"op": 5}]}),
        ("/v1/checkpoint/x/async", {"steps": [{"op": "StepRun", "opts": [1]}]}),
        ("/v1/checkpoint/x/async", {"steps": [{"op": "StepRun", "id": {"a": 1}}]}),
        ("/v1/checkpoint/x/async", {"steps": ["op"]}),
        ("/v1/checkpoint/x/async", {"steps": "op"}),
    ]
    for route, body in cases:
        response = await server.client.post(route, json=body)
        assert response.status_code == 400, (route, body, response.text)
        assert response.json()["error"], response.text


async def test_bodies_over_the_limit_are_refused_before_they_are_read(server: Server) -> None:
    url = httpx.URL(server.url)
    for route in ("/v1/cancellations", "/v1/functions/x/replay", "/e/k", "/v0/gql", "/fn/register"):
        reader, writer = await asyncio.open_connection(url.host, url.port)
        try:
            # Declares a terabyte and sends two bytes: the answer comes from the header alone.
            writer.write(
                f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {10**12}\r\n\r\n{{}}".encode()
            )
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout=10.0)
        finally:
            writer.close()
        assert status_line.split()[1] == b"413", (route, status_line)


async def test_graphql_has_a_body_cap_a_depth_limit_and_a_cost_limit(
    server: Server, shop: FakeSdk
) -> None:
    huge = await server.client.post(
        "/v0/gql", json={"query": "{ apps { id } }", "pad": "x" * (2 * 1024 * 1024)}
    )
    assert huge.status_code == 413
    nested = "functions { app { " * 8 + "id" + " } }" * 8
    deep_query = await server.client.post("/v0/gql", json={"query": "{ " + nested + " }"})
    assert deep_query.status_code == 400
    assert "nests deeper" in deep_query.text or "would resolve more" in deep_query.text
    fields = " ".join(f"a{i}: apps {{ functions {{ id name }} }}" for i in range(100))
    wide = await server.client.post("/v0/gql", json={"query": "{ " + fields + " }"})
    assert wide.status_code == 400
    assert "would resolve more" in wide.text
    bomb = "{ " + "{" * 5000 + " }"
    assert (await server.client.post("/v0/gql", json={"query": bomb})).status_code == 400
    # Ordinary queries still run.
    data = await server.gql("{ apps { name functions { slug } } }")
    assert data["apps"][0]["name"] == "shop"


async def test_health_reports_an_unreachable_database(db_url: str) -> None:
    async with running_server(db_url) as server:
        assert (await server.client.get("/health")).status_code == 200
        store = server.runtime.engine.store

        async def unreachable() -> None:
            raise ConnectionError("connection refused")

        original = store.ping
        store.ping = unreachable  # type: ignore[method-assign]
        try:
            down = await server.client.get("/health")
        finally:
            store.ping = original  # type: ignore[method-assign]
        assert down.status_code == 503
        assert "cannot be reached" in down.json()["message"]
        assert (await server.client.get("/health")).status_code == 200


# -- what apps on the official SDKs answer ------------------------------------------------------

BIG = step_hash("big")


def returns_a_big_step(body: dict[str, Any]) -> Reply:
    steps = body["steps"]
    if BIG not in steps:
        return ops(step_run("big", "x" * (4 * 1024 * 1024 + 10)))
    return Reply(200, {"big step": steps[BIG]})


def answers_nan(body: dict[str, Any]) -> Reply:
    return Reply(200, "replaced by NaN")


async def test_sdk_step_outputs_over_4_mib_become_a_step_error(server: Server) -> None:
    functions = [FakeFunction("big", [{"event": "t/big"}], returns_a_big_step)]
    async with running_sdk(FakeSdk("limits", functions), server.url) as sdk:
        assert (await sdk.sync())["ok"] is True
        [event_id] = await server.send({"name": "t/big"})
        [run_id] = await server.runs_of(event_id)
        await server.wait_for_status(run_id, "Completed")
        output = (await server.client.get(f"/v1/runs/{run_id}")).json()["data"]["output"]
        error = output["big step"]["error"]
        assert error["name"] == "StepOutputError"
        assert "over the limit of 4194304 bytes" in error["message"]


async def test_an_sdk_answer_that_is_not_strict_json_fails_the_run(server: Server) -> None:
    functions = [FakeFunction("nan", [{"event": "t/nan"}], answers_nan)]
    sdk = FakeSdk("strict", functions)
    app = sdk.asgi()

    async def nan_app(scope: Any, receive: Any, send: Any) -> None:
        async def patched(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.body" and b"replaced by NaN" in message["body"]:
                # The same length, so Content-Length stays true: what Python's json.dumps sends.
                body = message["body"].replace(b'"replaced by NaN"', b"NaN".ljust(17))
                message = {**message, "body": body}
            await send(message)

        await app(scope, receive, patched)

    sdk.asgi = lambda: nan_app  # type: ignore[assignment, method-assign, return-value]
    async with running_sdk(sdk, server.url):
        assert (await sdk.sync())["ok"] is True
        [event_id] = await server.send({"name": "t/nan"})
        [run_id] = await server.runs_of(event_id)
        await server.wait_for_status(run_id, "Failed")
        run = (await server.client.get(f"/v1/runs/{run_id}")).json()["data"]
        assert run["output"]["name"] == "InvalidResponseError"
        assert "NaN" in run["output"]["message"]
    assert (await server.client.get(f"/v1/events/{event_id}")).status_code == 200


async def test_a_run_state_over_32_mib_fails_the_run_without_calling_the_app(
    server: Server,
) -> None:
    functions = [FakeFunction("big", [{"event": "t/big"}], returns_a_big_step)]
    async with running_sdk(FakeSdk("state", functions), server.url) as sdk:
        chunk = "x" * (4 * 1024 * 1024 - 100)
        request = ExecutionRequest(
            run_id="01J00000000000000000000000",
            function_id="state-big",
            attempt=0,
            max_attempts=1,
            events=[{"name": "t/big", "data": {}}],
            memo={step_hash(f"s{i}"): {"data": chunk} for i in range(9)},
            url=f"{sdk.url}?fnId=state-big&stepId=step",
        )

        class NothingStored:
            async def __call__(self, op: Any) -> Any:
                raise AssertionError("nothing may be stored")

            async def many(self, ops: list[Any]) -> list[Any]:
                raise AssertionError("nothing may be stored")

        outcome = await server.runtime.http_driver.execute(request, NothingStored())
        assert isinstance(outcome, Errored)
        assert not outcome.retriable
        assert outcome.error["name"] == "StateTooLargeError"
        assert "over the limit of 33554432 bytes" in outcome.error["message"]
        assert sdk.calls == []


async def test_numbers_an_older_version_stored_do_not_break_reads(sqlite_url: str) -> None:
    # What the boundary now refuses, written the way an older version would have stored it.
    async with running_server(sqlite_url) as server:
        stored = StoredEvent(
            internal_id="01J00000000000000000000001",
            event=Event(name="old/nan", data={"x": float("nan"), "y": [float("inf")]}),
            received_at=1_700_000_000_000,
        )
        await server.runtime.engine.ingest([stored])
        listed = await server.client.get("/v1/events")
        assert listed.status_code == 200
        assert listed.json()["data"][0]["data"] == {"x": None, "y": [None]}
        one = await server.client.get(f"/v1/events/{stored.internal_id}")
        assert one.status_code == 200
