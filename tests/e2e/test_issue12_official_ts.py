"""Issue 12, with the official TypeScript SDK (inngest 4.24.0): what its test helpers read.

4. ``eventV2(id) { idempotencyKey }`` is a string: the sender's id, else the internal id;
5. a step's ``attempts`` in the GraphQL run trace counts retries (the last attempt's number),
   as the SDK's ``runHasTimeline`` helper matches it: ``retries: 1`` failing twice is 1.

The app (``apps/ts/app.mjs``) and ``stepwell dev`` run as their own processes on loopback.
"""

from __future__ import annotations

import pytest

from tests.e2e.harness import Stack, as_list, as_obj, nonce

pytestmark = [pytest.mark.timeout(300)]

EVENT_V2 = "query($id: ULID!) { eventV2(id: $id) { id idempotencyKey name } }"
TRACE = """query GetRunTimeline($runId: String!) {
  run(runID: $runId) {
    trace(preview: true) {
      name stepType attempts outputID status
      childrenSpans { name stepType attempts outputID status }
    }
  }
}"""


@pytest.fixture(scope="module")
def stack(ts_stack: Stack) -> Stack:
    return ts_stack


def _gql(stack: Stack, query: str, variables: dict[str, object]) -> dict[str, object]:
    response = stack.server.http.post("/v0/gql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text[:2000]
    body = as_obj(response.json(), "GraphQL answer")
    assert not body.get("errors"), body
    return as_obj(body.get("data"), "data")


def test_event_v2_idempotency_key_is_always_a_string(stack: Stack) -> None:
    server = stack.server
    n = nonce()
    own = f"order-{n}"
    with_id, without_id = server.send(
        [
            {"name": "e2e/basic", "data": {"nonce": n}, "id": own},
            {"name": "e2e/basic", "data": {"nonce": n}},
        ]
    )
    first = as_obj(_gql(stack, EVENT_V2, {"id": with_id}).get("eventV2"))
    assert (first["id"], first["idempotencyKey"], first["name"]) == (with_id, own, "e2e/basic")
    second = as_obj(_gql(stack, EVENT_V2, {"id": without_id}).get("eventV2"))
    assert second["idempotencyKey"] == without_id
    # Both ran: the runs of a TS app see these events.
    assert server.wait_for_run(with_id).status == "Completed"
    assert server.wait_for_run(without_id).status == "Completed"


def test_trace_attempts_count_retries(stack: Stack) -> None:
    server = stack.server
    # retries: 1, and the step always throws: tried on attempts 0 and 1, then the run fails.
    run = server.wait_for_run(server.send_one("e2e/exhaust", {"nonce": nonce()}))
    assert run.status == "Failed"
    trace = as_obj(as_obj(_gql(stack, TRACE, {"runId": run.run_id}).get("run")).get("trace"))
    spans = [as_obj(span) for span in as_list(trace.get("childrenSpans"))]
    failed = [span for span in spans if span.get("name") == "always fails"]
    assert len(failed) == 1, spans
    assert (failed[0]["status"], failed[0]["stepType"], failed[0]["attempts"]) == (
        "FAILED",
        "RUN",
        1,
    )
    # A step that succeeded on its first try: attempt 0.
    ok = server.wait_for_run(server.send_one("e2e/steps", {"nonce": nonce()}))
    trace = as_obj(as_obj(_gql(stack, TRACE, {"runId": ok.run_id}).get("run")).get("trace"))
    attempts = {
        as_obj(span).get("name"): as_obj(span).get("attempts")
        for span in as_list(trace.get("childrenSpans"))
    }
    assert attempts.get("first step") == 0, attempts
    assert attempts.get("second step") == 0, attempts
