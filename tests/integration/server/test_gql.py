"""The GraphQL API over HTTP (protocol.md §8.1): the queries and mutations SDK test suites use."""

from __future__ import annotations

import json
from typing import Any

import inngest

from tests.integration.server.conftest import BROKEN, FIRST, SECOND, WAIT, shop_functions
from tests.integration.server.harness import FakeSdk, Server, running_sdk, running_server
from tests.waiting import eventually

RUN_QUERY = """
query GetRun($run_id: String!) {
  run(runID: $run_id) {
    status
    output
    trace(preview: true) {
      name status outputID stepType attempts isRoot
      childrenSpans { name stepType attempts outputID status stepID }
    }
  }
  runTrigger(runID: $run_id) { payloads IDs eventName isBatch }
}
"""

OUTPUT_QUERY = """
query Output($id: String!) {
  runTraceSpanOutputByID(outputID: $id) { data error { name message stack cause } }
}
"""


async def finished_run(server: Server, event: dict[str, Any], status: str) -> tuple[str, str]:
    [event_id] = await server.send(event)
    [run_id] = await server.runs_of(event_id)
    await server.wait_for_status(run_id, status)
    return event_id, run_id


async def test_event_function_runs(server: Server, shop: FakeSdk) -> None:
    event_id, run_id = await finished_run(server, {"name": "shop/hello"}, "Completed")
    data = await server.gql(
        """query($id: ID!) { event(query: {eventId: $id}) {
             id name payload raw status totalRuns pendingRuns functionRuns { id status }
           } }""",
        {"id": event_id},
    )
    event = data["event"]
    assert event["functionRuns"] == [{"id": run_id, "status": "COMPLETED"}]
    assert (event["id"], event["name"], json.loads(event["payload"])) == (
        event_id,
        "shop/hello",
        {},
    )
    assert json.loads(event["raw"])["id"] == event_id
    assert (event["status"], event["totalRuns"], event["pendingRuns"]) == ("COMPLETED", 1, 0)
    missing = await server.gql('{ event(query: {eventId: "01HZZZZZZZZZZZZZZZZZZZZZZZ"}) { id } }')
    assert missing == {"event": None}


async def test_a_run_its_trace_and_step_outputs(server: Server, shop: FakeSdk) -> None:
    event = {"name": "shop/steps", "data": {"order": 7}, "id": "order-7"}
    event_id, run_id = await finished_run(server, event, "Completed")
    data = await server.gql(RUN_QUERY, {"run_id": run_id})
    run = data["run"]
    assert run["status"] == "COMPLETED"
    assert json.loads(run["output"]) == ["one", "one+two"]
    trace = run["trace"]
    assert (trace["name"], trace["status"], trace["isRoot"]) == ("Two steps", "COMPLETED", True)
    assert trace["childrenSpans"] == [
        {
            "name": "first step",
            "stepType": "RUN",
            "attempts": 0,
            "outputID": f"{run_id}:{FIRST}",
            "status": "COMPLETED",
            "stepID": FIRST,
        },
        {
            "name": "second step",
            "stepType": "RUN",
            "attempts": 0,
            "outputID": f"{run_id}:{SECOND}",
            "status": "COMPLETED",
            "stepID": SECOND,
        },
    ]
    outputs = [
        (await server.gql(OUTPUT_QUERY, {"id": span["outputID"]}))["runTraceSpanOutputByID"]
        for span in [trace, *trace["childrenSpans"]]
    ]
    assert [json.loads(out["data"]) for out in outputs] == [["one", "one+two"], "one", "one+two"]
    assert [out["error"] for out in outputs] == [None, None, None]

    trigger = data["runTrigger"]
    assert (trigger["IDs"], trigger["eventName"], trigger["isBatch"]) == (
        [event_id],
        "shop/steps",
        False,
    )
    # The official Python SDK's test helper parses the payload with its own Event model.
    parsed = inngest.Event.model_validate_json(trigger["payloads"][0])
    assert (parsed.name, parsed.id, dict(parsed.data)) == ("shop/steps", "order-7", {"order": 7})


async def test_a_retried_step_counts_its_attempts(db_url: str) -> None:
    async with (
        running_server(db_url, retry_interval_s=0.0) as server,
        running_sdk(FakeSdk("shop", shop_functions()), server.url) as sdk,
    ):
        await sdk.sync()
        _, run_id = await finished_run(server, {"name": "shop/flaky"}, "Completed")
        run = (await server.gql(RUN_QUERY, {"run_id": run_id}))["run"]
        [span] = run["trace"]["childrenSpans"]
        assert (span["name"], span["status"], span["attempts"]) == ("first step", "COMPLETED", 1)
        assert [call.body["ctx"]["attempt"] for call in sdk.calls_of("flaky")] == [0, 1, 0]


async def test_a_failed_run_shows_the_failed_step_and_its_error(
    server: Server, shop: FakeSdk
) -> None:
    _, run_id = await finished_run(server, {"name": "shop/fails"}, "Failed")
    run = (await server.gql(RUN_QUERY, {"run_id": run_id}))["run"]
    assert run["status"] == "FAILED"
    assert json.loads(run["output"])["message"] == "broken step"
    [span] = run["trace"]["childrenSpans"]
    assert (span["name"], span["status"], span["attempts"]) == ("broken", "FAILED", 0)
    output = (await server.gql(OUTPUT_QUERY, {"id": f"{run_id}:{BROKEN}"}))[
        "runTraceSpanOutputByID"
    ]
    assert output == {
        "data": None,
        "error": {
            "name": "ValueError",
            "message": "broken step",
            "stack": "Traceback: line 1",
            "cause": None,
        },
    }
    root = (await server.gql(OUTPUT_QUERY, {"id": run_id}))["runTraceSpanOutputByID"]
    assert root["error"]["name"] == "StepError"


async def test_a_waiting_run_shows_its_waiting_step(server: Server, shop: FakeSdk) -> None:
    [event_id] = await server.send({"name": "shop/waits"})
    [run_id] = await server.runs_of(event_id)

    async def waiting() -> bool:
        run = (await server.gql(RUN_QUERY, {"run_id": run_id}))["run"]
        spans = run["trace"]["childrenSpans"]
        return run["status"] == "RUNNING" and [s["status"] for s in spans] == ["WAITING"]

    await eventually(waiting, what="the run waits")
    run = (await server.gql(RUN_QUERY, {"run_id": run_id}))["run"]
    assert run["output"] is None
    assert run["trace"]["outputID"] is None
    [span] = run["trace"]["childrenSpans"]
    assert (span["name"], span["stepType"], span["stepID"]) == ("wait", "WAIT_FOR_EVENT", WAIT)
    response = await server.client.post(
        "/v0/gql", json={"query": OUTPUT_QUERY, "variables": {"id": run_id}}
    )
    assert response.json()["errors"][0]["message"] == (
        f"run {run_id} has not ended: it has no output yet"
    )


async def test_unknown_runs(server: Server) -> None:
    unknown = "01HZZZZZZZZZZZZZZZZZZZZZZZ"
    assert await server.gql(f'{{ run(runID: "{unknown}") {{ id }} }}') == {"run": None}
    response = await server.client.post(
        "/v0/gql", json={"query": f'{{ runTrigger(runID: "{unknown}") {{ payloads }} }}'}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["message"] == f"no run with id {unknown!r}"
    assert body["errors"][0]["path"] == ["runTrigger"]


async def test_events_and_event_v2(server: Server) -> None:
    ids = await server.send(
        {"name": "shop/a", "data": {"n": 1}, "id": "key-a"}, {"name": "shop/b", "v": "2024-01"}
    )
    events = (await server.gql("{ events(query: {}) { id name payload } }"))["events"]
    assert [(e["id"], e["name"], json.loads(e["payload"])) for e in events] == [
        (ids[1], "shop/b", {}),
        (ids[0], "shop/a", {"n": 1}),
    ]
    older = await server.gql(
        "query($last: ID) { events(query: {lastEventId: $last}) { id } }", {"last": ids[1]}
    )
    assert older["events"] == [{"id": ids[0]}]
    query = "query($id: ULID!) { eventV2(id: $id) { id idempotencyKey name raw version } }"
    first = (await server.gql(query, {"id": ids[0]}))["eventV2"]
    assert (first["idempotencyKey"], first["name"], first["version"]) == ("key-a", "shop/a", None)
    raw = json.loads(first["raw"])
    assert (raw["id"], raw["name"], raw["data"]) == ("key-a", "shop/a", {"n": 1})
    second = (await server.gql(query, {"id": ids[1]}))["eventV2"]
    # No id from the sender: the key is the internal id, as on Inngest (a string, never null).
    assert (second["idempotencyKey"], second["version"]) == (ids[1], "2024-01")
    response = await server.client.post(
        "/v0/gql", json={"query": query, "variables": {"id": "01HZZZZZZZZZZZZZZZZZZZZZZZ"}}
    )
    assert (
        response.json()["errors"][0]["message"] == "no event with id '01HZZZZZZZZZZZZZZZZZZZZZZZ'"
    )


async def test_the_stream_lists_triggers_with_their_runs(server: Server, shop: FakeSdk) -> None:
    hello_id, run_id = await finished_run(server, {"name": "shop/hello"}, "Completed")
    [other] = await server.send({"name": "shop/nobody-listens"})
    query = """query($limit: Int!, $internal: Boolean) {
      stream(query: {limit: $limit, includeInternalEvents: $internal}) {
        id trigger type inBatch runs { id status function { name slug } }
      } }"""
    items = (await server.gql(query, {"limit": 10, "internal": False}))["stream"]
    assert [(i["id"], i["trigger"], i["type"], i["inBatch"]) for i in items] == [
        (other, "shop/nobody-listens", "EVENT", False),
        (hello_id, "shop/hello", "EVENT", False),
    ]
    assert items[0]["runs"] == []
    assert items[1]["runs"] == [
        {"id": run_id, "status": "COMPLETED", "function": {"name": "Hello", "slug": "shop-hello"}}
    ]
    everything = (await server.gql(query, {"limit": 10, "internal": True}))["stream"]
    assert "inngest/function.finished" in [i["trigger"] for i in everything]
    one = (await server.gql(query, {"limit": 1, "internal": False}))["stream"]
    assert [i["id"] for i in one] == [other]


async def test_runs_are_filtered_ordered_and_paged(server: Server, shop: FakeSdk) -> None:
    _, failed = await finished_run(server, {"name": "shop/fails"}, "Failed")
    _, first = await finished_run(server, {"name": "shop/hello"}, "Completed")
    _, second = await finished_run(server, {"name": "shop/hello"}, "Completed")
    query = """query($first: Int!, $after: String, $dir: RunsOrderByDirection!,
                     $status: [FunctionRunStatus!]) {
      runs(first: $first, after: $after, orderBy: [{field: QUEUED_AT, direction: $dir}],
           filter: {from: "2020-01-01T00:00:00Z", status: $status}) {
        edges { node { id status function { name slug } } cursor }
        pageInfo { hasNextPage endCursor }
        totalCount
      } }"""
    variables: dict[str, Any] = {"first": 10, "dir": "DESC", "status": None}
    runs = (await server.gql(query, variables))["runs"]
    assert [edge["node"]["id"] for edge in runs["edges"]] == [second, first, failed]
    assert runs["edges"][0]["node"]["function"] == {"name": "Hello", "slug": "shop-hello"}
    assert runs["totalCount"] == 3
    completed = await server.gql(query, variables | {"status": ["COMPLETED"], "dir": "ASC"})
    assert [e["node"]["id"] for e in completed["runs"]["edges"]] == [first, second]
    page = (await server.gql(query, variables | {"first": 2}))["runs"]
    assert page["pageInfo"] == {"hasNextPage": True, "endCursor": first}
    rest = (await server.gql(query, variables | {"first": 2, "after": first}))["runs"]
    assert [e["node"]["id"] for e in rest["edges"]] == [failed]
    assert rest["pageInfo"]["hasNextPage"] is False
    future = await server.gql(
        '{ runs(orderBy: [], filter: {from: "2100-01-01T00:00:00Z"}) { totalCount } }'
    )
    assert future["runs"]["totalCount"] == 0


async def test_invoke_function(server: Server, shop: FakeSdk) -> None:
    data = await server.gql(
        'mutation { invokeFunction(functionSlug: "shop-hello", data: {who: "gql"}, user: {}) }'
    )
    assert data == {"invokeFunction": True}
    await eventually(lambda: len(shop.calls_of("hello")) == 1, what="the invoked function runs")
    event = shop.calls_of("hello")[0].body["event"]
    assert (event["name"], event["data"]["who"]) == ("inngest/function.invoked", "gql")
    response = await server.client.post(
        "/v0/gql", json={"query": 'mutation { invokeFunction(functionSlug: "shop-nope") }'}
    )
    assert response.json()["errors"][0]["message"] == "functionSlug: function 'shop-nope' not found"


async def test_cancel_run(server: Server, shop: FakeSdk) -> None:
    [event_id] = await server.send({"name": "shop/waits"})
    [run_id] = await server.runs_of(event_id)
    await server.wait_for_status(run_id, "Running")
    query = "mutation($id: ULID!) { cancelRun(runID: $id) { id status } }"
    data = await server.gql(query, {"id": run_id})
    assert data == {"cancelRun": {"id": run_id, "status": "CANCELLED"}}
    assert await server.run_status(run_id) == "Cancelled"
    response = await server.client.post(
        "/v0/gql", json={"query": query, "variables": {"id": "01HZZZZZZZZZZZZZZZZZZZZZZZ"}}
    )
    assert response.json()["errors"][0]["message"] == (
        "no run with id '01HZZZZZZZZZZZZZZZZZZZZZZZ'"
    )


async def test_rerun_starts_a_new_run_with_the_same_events(server: Server, shop: FakeSdk) -> None:
    event = {"name": "shop/steps", "id": "once-only"}
    event_id, run_id = await finished_run(server, event, "Completed")
    data = await server.gql("mutation($id: ULID!) { rerun(runID: $id) }", {"id": run_id})
    new_id = data["rerun"]
    assert new_id != run_id
    await server.wait_for_status(new_id, "Completed")
    trigger = await server.gql(
        "query($id: String!) { runTrigger(runID: $id) { IDs } }", {"id": new_id}
    )
    assert trigger["runTrigger"]["IDs"] == [event_id]
    assert sorted(await server.runs_of(event_id, count=2)) == sorted([run_id, new_id])
    # Each run replayed from an empty memo: three calls each.
    assert len(shop.calls_of("steps")) == 6

    # From a step: the results stored before it are kept, the rest runs again.
    query = 'mutation($id: ULID!) { rerun(runID: $id, fromStep: {stepID: "second step"}) }'
    from_step = (await server.gql(query, {"id": run_id}))["rerun"]
    await server.wait_for_status(from_step, "Completed")
    calls = [call for call in shop.calls_of("steps") if call.body["ctx"]["run_id"] == from_step]
    assert [sorted(call.body["steps"]) for call in calls] == [[FIRST], sorted([FIRST, SECOND])]
    response = await server.client.post(
        "/v0/gql",
        json={
            "query": 'mutation($id: ULID!) { rerun(runID: $id, fromStep: {stepID: "nope"}) }',
            "variables": {"id": run_id},
        },
    )
    assert response.json()["errors"][0]["message"] == (
        f"cannot rerun {run_id!r}: run {run_id!r} has no stored step 'nope'"
    )


async def test_create_and_delete_apps(server: Server) -> None:
    async with running_sdk(FakeSdk("shop", shop_functions()), server.url) as sdk:
        create = """mutation($url: String!) { createApp(input: {url: $url}) {
          id name url error connected sdkLanguage sdkVersion framework functionCount
          functions { slug name }
        } }"""
        app = (await server.gql(create, {"url": sdk.url}))["createApp"]
        assert (app["name"], app["url"], app["error"], app["connected"]) == (
            "shop",
            sdk.url,
            None,
            True,
        )
        assert (app["sdkLanguage"], app["sdkVersion"], app["framework"]) == (
            "py",
            "0.5.19",
            "starlette",
        )
        assert app["functionCount"] == len(shop_functions())
        assert {"slug": "shop-hello", "name": "Hello"} in app["functions"]
        apps = (await server.gql("{ apps { id name } }"))["apps"]
        assert apps == [{"id": app["id"], "name": "shop"}]

        deleted = await server.gql(
            "mutation($id: String!) { deleteApp(id: $id) }", {"id": app["id"]}
        )
        assert deleted == {"deleteApp": app["id"]}
        assert (await server.gql("{ apps { id } functions { slug } }")) == {
            "apps": [],
            "functions": [],
        }

        await server.gql(create, {"url": sdk.url})
        by_name = await server.gql('mutation { deleteAppByName(name: "shop") }')
        assert by_name == {"deleteAppByName": True}
        assert (await server.gql("{ apps { id } }")) == {"apps": []}
        response = await server.client.post(
            "/v0/gql", json={"query": 'mutation { deleteAppByName(name: "shop") }'}
        )
        assert response.json()["errors"][0]["message"] == "no app named 'shop'"

    unreachable = (await server.gql(create, {"url": sdk.url}))["createApp"]
    assert unreachable["connected"] is False
    assert unreachable["error"].startswith("could not reach the app")


async def test_request_errors_are_400_with_a_message(server: Server) -> None:
    cases: list[tuple[bytes, str]] = [
        (b"{not json", "Invalid request: the body is not valid JSON"),
        (b'{"variables": {}}', "query: a GraphQL query string is required"),
        (b'{"query": "{ run(runID: ", "variables": {}}', "Syntax Error"),
        (b'{"query": "{ nope }"}', "Cannot query field 'nope' on type 'Query'."),
        (b'{"query": "{ apps { id } }", "variables": [1]}', "variables: expected a JSON object"),
        (
            b'{"query": "query($id: String!) { run(runID: $id) { id } }", "variables": {}}',
            "Variable '$id' has invalid value: Expected a value of non-null type 'String!'",
        ),
    ]
    for body, message in cases:
        response = await server.client.post("/v0/gql", content=body)
        assert response.status_code == 400, body
        assert response.json()["errors"][0]["message"].startswith(message), response.json()


async def test_playground_and_start_mode_auth(db_url: str) -> None:
    async with running_server(db_url) as dev:
        page = await dev.client.get("/v0")
        assert page.status_code == 200
        assert "/v0/gql" in page.text
    key = "signkey-prod-12345678"
    async with running_server(db_url, dev=False, signing_key=key, event_keys=["k"]) as server:
        refused = await server.client.post("/v0/gql", json={"query": "{ apps { id } }"})
        assert refused.status_code == 401
        message = refused.json()["errors"][0]["message"]
        assert message.startswith("Authentication failed: "), message
        data = await server.gql(
            "{ apps { id } }",
            Authorization="Bearer b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c",
        )
        assert data == {"apps": []}
        # The playground is for dev servers; in production the guard answers first.
        assert (await server.client.get("/v0")).status_code == 401
        token = {"Authorization": "Bearer signkey-prod-12345678"}
        assert (await server.client.get("/v0", headers=token)).status_code == 404
