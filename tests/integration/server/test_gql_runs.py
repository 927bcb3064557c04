"""GraphQL's ``runs`` filters that the SDK suites use less: by function and app UUID, on
another time field, and cursors that are not cursors (refused by name, never a 5xx)."""

from __future__ import annotations

from typing import Any

from tests.integration.server.harness import FakeSdk, Server
from tests.integration.server.test_gql import finished_run

QUERY = """query($filter: RunsFilterV2!, $after: String, $order: [RunsV2OrderBy!]!) {
  runs(first: 10, after: $after, orderBy: $order, filter: $filter) {
    edges { node { id } } pageInfo { hasNextPage hasPreviousPage } totalCount
  } }"""
SINCE = "2020-01-01T00:00:00Z"


async def _runs(server: Server, **variables: Any) -> dict[str, Any]:
    variables.setdefault("order", [])
    runs: dict[str, Any] = (await server.gql(QUERY, variables))["runs"]
    return runs


def _ids(runs: dict[str, Any]) -> list[str]:
    return [edge["node"]["id"] for edge in runs["edges"]]


async def test_runs_by_function_app_and_time_field(server: Server, shop: FakeSdk) -> None:
    _, hello = await finished_run(server, {"name": "shop/hello"}, "Completed")
    _, failed = await finished_run(server, {"name": "shop/fails"}, "Failed")
    functions = (await server.gql("{ functions { id slug } }"))["functions"]
    uuid = {f["slug"]: f["id"] for f in functions}
    [app] = (await server.gql("{ apps { id } }"))["apps"]

    only_hello = await _runs(server, filter={"from": SINCE, "functionIDs": [uuid["shop-hello"]]})
    assert (_ids(only_hello), only_hello["totalCount"]) == ([hello], 1)
    by_app = await _runs(server, filter={"from": SINCE, "appIDs": [app["id"]]})
    assert _ids(by_app) == [failed, hello]
    nobody = "00000000-0000-0000-0000-000000000000"
    assert (await _runs(server, filter={"from": SINCE, "appIDs": [nobody]}))["totalCount"] == 0
    assert (await _runs(server, filter={"from": SINCE, "functionIDs": [nobody]}))["edges"] == []
    ended = await _runs(
        server,
        filter={"from": SINCE, "timeField": "ENDED_AT"},
        order=[{"field": "ENDED_AT", "direction": "ASC"}],
    )
    assert _ids(ended) == [hello, failed]
    after = await _runs(server, filter={"from": SINCE}, after=failed)
    assert _ids(after) == [hello]
    assert after["pageInfo"] == {"hasNextPage": False, "hasPreviousPage": True}


async def test_junk_cursors_are_refused_by_name(server: Server, shop: FakeSdk) -> None:
    await finished_run(server, {"name": "shop/hello"}, "Completed")
    cases = {
        '"nope"': "'nope'",
        '"\\u0000"': "'\\x00'",
    }
    for literal, shown in cases.items():
        query = f'{{ runs(after: {literal}, filter: {{from: "{SINCE}"}}) {{ totalCount }} }}'
        response = await server.client.post("/v0/gql", json={"query": query})
        assert response.status_code == 200, response.text
        message = response.json()["errors"][0]["message"]
        assert message == f"after: {shown} is not a cursor of these runs", message
