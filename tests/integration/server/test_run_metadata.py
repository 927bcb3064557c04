"""Run metadata in a run's trace (``RunTraceSpan.metadata``), written over REST and attached by
an SDK to the ops of its steps; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from tests.integration.server.conftest import FIRST, SECOND
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
from tests.integration.server.test_gql import finished_run

TRACE = """
query Trace($run_id: String!) {
  runTrace(runID: $run_id) {
    metadata { kind scope values updatedAt }
    childrenSpans { stepID metadata { kind scope values updatedAt } }
  }
}
"""


async def _trace(server: Server, run_id: str) -> dict[str, Any]:
    trace: dict[str, Any] = (await server.gql(TRACE, {"run_id": run_id}))["runTrace"]
    return trace


def _on(trace: dict[str, Any], step: str) -> list[dict[str, Any]]:
    [span] = [s for s in trace["childrenSpans"] if s["stepID"] == step]
    found: list[dict[str, Any]] = span["metadata"]
    return found


def _kinds(metadata: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["kind"], m["scope"]): m["values"] for m in metadata}


async def _post(server: Server, run_id: str, body: dict[str, Any]) -> None:
    response = await server.client.post(f"/v1/runs/{run_id}/metadata", json=body)
    assert response.status_code == 200, response.text


async def test_rest_metadata_shows_on_the_run_and_its_steps(server: Server, shop: FakeSdk) -> None:
    _, run_id = await finished_run(server, {"name": "shop/steps"}, "Completed")
    tags = {"kind": "userland.tags", "op": "set", "values": {"tag": "a", "n": 1}}
    await _post(server, run_id, {"target": {"run_id": run_id}, "metadata": [tags]})
    # Updates of one kind and scope combine, by their ops, in the order written.
    more = {"kind": "userland.tags", "op": "merge", "values": {"n": 2, "extra": True}}
    await _post(server, run_id, {"metadata": [more]})
    where = {"kind": "userland.where", "op": "set", "values": {"at": "second"}}
    await _post(server, run_id, {"target": {"step_id": "second step"}, "metadata": [where]})
    scored = await server.client.post(
        f"/v2/runs/{run_id}/scores",
        json={"scores": [{"name": "accuracy", "value": 0.5, "step_id": "first step"}]},
    )
    assert scored.status_code == 200, scored.text

    trace = await _trace(server, run_id)
    [root] = trace["metadata"]
    assert (root["kind"], root["scope"]) == ("userland.tags", "run")
    assert root["values"] == {"tag": "a", "n": 2, "extra": True}
    assert root["updatedAt"].endswith("Z")
    assert _kinds(_on(trace, FIRST)) == {("inngest.score", "step"): {"accuracy": {"value": 0.5}}}
    assert _kinds(_on(trace, SECOND)) == {("userland.where", "step"): {"at": "second"}}


def _with_metadata(op: dict[str, Any], *entries: dict[str, Any]) -> dict[str, Any]:
    return op | {"metadata": list(entries)}


GOOD = {"kind": "userland.progress", "scope": "step", "op": "set", "values": {"pct": 100}}
TRIED = {"kind": "userland.try", "scope": "step_attempt", "op": "set", "values": {"how": "x"}}
TOO_BIG = {"kind": "userland.big", "scope": "step", "op": "set", "values": {"b": "y" * 70_000}}
RESERVED = {"kind": "inngest.bogus", "scope": "step", "op": "set", "values": {"a": 1}}
WORK = step_hash("work")


def _reports_metadata(body: dict[str, Any]) -> Reply:
    """``step.run("work")`` fails once, then succeeds; each op carries metadata, some of it
    refused (over the 64 KiB limit, a reserved kind), none of which may fail the run."""
    steps = body["steps"]
    if WORK in steps:
        return Reply(200, steps[WORK]["data"])
    if body["ctx"]["attempt"] == 0:
        error = {"name": "Error", "message": "not yet", "stack": ""}
        failed = {"op": "StepError", "id": WORK, "name": "work", "error": error}
        return ops(_with_metadata(failed, TRIED))
    return ops(_with_metadata(step_run("work", "done"), GOOD, TOO_BIG, RESERVED, TRIED))


async def test_metadata_on_ops_is_stored_for_their_step(db_url: str) -> None:
    fn = FakeFunction("meta", [{"event": "lab/meta"}], _reports_metadata, retries=1)
    async with (
        running_server(db_url, retry_interval_s=0.0) as server,
        running_sdk(FakeSdk("lab", [fn]), server.url) as sdk,
    ):
        await sdk.sync()
        _, run_id = await finished_run(server, {"name": "lab/meta"}, "Completed")
        stored = (await server.client.get(f"/v1/runs/{run_id}/metadata")).json()["data"]
        assert [(e["kind"], e["scope"], e["attempt"]) for e in stored] == [
            ("userland.try", "step_attempt", 0),
            ("userland.progress", "step", None),
            ("userland.try", "step_attempt", 1),
        ]
        assert {(e["step_hash"], e["step_id"]) for e in stored} == {(WORK, "work")}

        trace = await _trace(server, run_id)
        assert trace["metadata"] == []
        on_work = _on(trace, WORK)
        assert [(m["kind"], m["scope"], m["values"]) for m in on_work] == [
            ("userland.try", "step_attempt", {"how": "x"}),
            ("userland.progress", "step", {"pct": 100}),
            ("userland.try", "step_attempt", {"how": "x"}),
        ]


async def test_metadata_on_a_durable_endpoints_steps(server: Server) -> None:
    run_id = "01M8SPDT36T4WFHRSSR52ABWPG"
    event = {
        "name": "inngest/http.request",
        "data": {"domain": "http://127.0.0.1:9", "path": "/ep", "method": "GET"},
    }
    first = _with_metadata(step_run("one", 1), GOOD, TOO_BIG)
    started = await server.client.post(
        "/v1/checkpoint", json={"run_id": run_id, "event": event, "steps": [first]}
    )
    assert started.status_code == 200, started.text
    second = _with_metadata(step_run("two", 2), TRIED)
    recorded = await server.client.post(f"/v1/checkpoint/{run_id}/steps", json={"steps": [second]})
    assert recorded.status_code == 200, recorded.text
    trace = await _trace(server, run_id)
    assert _kinds(_on(trace, step_hash("one"))) == {("userland.progress", "step"): {"pct": 100}}
    assert _kinds(_on(trace, step_hash("two"))) == {("userland.try", "step_attempt"): {"how": "x"}}
