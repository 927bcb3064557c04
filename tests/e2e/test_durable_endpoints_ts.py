"""Durable endpoints and run metadata from an app on the official TypeScript SDK (inngest 4.24.0,
``apps/ts/endpoint_app.mjs``) against ``stepwell dev``.

Endpoints: answered in the request (plain and as server-sent events); gone asynchronous after a
sleep, awaited through the server's redirect (302 to ``/v1/http/runs/{run}/output``), through a
``{run_id, token}`` answer, and streamed (``inngest.redirect_info`` to ``/v1/realtime/sse``, with
the chunks the handler streams after the switch, which the SDK sends the server's tee); and a
handler that fails for good. Metadata and scores: written through the SDK's metadata API (and,
inside ``step.run``, on the step's op), read back over REST and on the run's trace, and refused
over Inngest's size limits with a 413 naming the limit.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.harness import (
    RUN_TIMEOUT,
    Stack,
    as_list,
    as_obj,
    nonce,
    sha1,
    start_stack,
    ts_app,
)

pytestmark = [pytest.mark.timeout(300)]


ENDPOINTS = ts_app("endpoint_app.mjs")


@pytest.fixture(scope="module")
def stack(ts_app_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(ENDPOINTS, tmp_path_factory.mktemp("e2e-ts-endpoints"), ("dep-meta",)) as s:
        yield s


def _client() -> httpx.Client:
    return httpx.Client(timeout=RUN_TIMEOUT, follow_redirects=False)


def _sse(text: str) -> list[tuple[str, object]]:
    events: list[tuple[str, object]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = "", ""
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
        if name:
            events.append((name, json.loads(data) if data else None))
    return events


TRACE = """query($id: String!) { runTrace(runID: $id) {
  metadata { kind scope values updatedAt }
  childrenSpans { stepID metadata { kind scope values updatedAt } }
} }"""


def _trace(stack: Stack, run_id: str) -> dict[str, object]:
    response = stack.server.http.post("/v0/gql", json={"query": TRACE, "variables": {"id": run_id}})
    body = as_obj(response.json())
    assert "errors" not in body, body
    return as_obj(as_obj(body["data"])["runTrace"])


def _run_of(stack: Stack, run_id: str) -> dict[str, object]:
    run = stack.server.wait_for_run_end(run_id)
    return {"status": run.status, "output": run.output}


def test_endpoint_answered_in_the_request_is_a_completed_run(stack: Stack) -> None:
    n = nonce()
    with _client() as client:
        response = client.get(f"{stack.app.origin}/ep/quick", params={"n": n})
    assert response.status_code == 200, response.text
    assert response.json() == {"n": n, "sum": 3}
    # The run the SDK checkpointed: found through the server's http.request event.
    [event] = [e for e in stack.server.events("inngest/http.request") if n in str(e.data)]
    [run] = stack.server.runs_of_event(event.internal_id)
    ended = stack.server.wait_for_run_end(run.run_id)
    assert ended.status == "Completed"
    output = as_obj(ended.output)
    assert output["status"] == 200
    assert json.loads(str(output["body"])) == {"n": n, "sum": 3}
    with _client() as client:
        actions = client.get(f"{stack.server.url}/v0/runs/{run.run_id}/actions").json()
    assert actions[sha1("one")] == {"data": 1}
    assert actions[sha1("two")] == {"data": 2}


def test_endpoint_that_sleeps_redirects_to_its_output(stack: Stack) -> None:
    n = nonce()
    with _client() as client:
        first = client.get(f"{stack.app.origin}/ep/sleepy", params={"n": n})
        assert first.status_code == 302, first.text
        location = first.headers["location"]
        assert location.startswith(f"{stack.server.url}/v1/http/runs/"), location
        final = client.get(location)
        assert final.status_code == 200, final.text
        assert final.json() == {"before": f"before-{n}", "after": f"after-{n}"}
        # A token for another run (or none) reads nothing.
        forged = location.replace("token=", "token=x")
        assert client.get(forged).status_code == 401


def test_endpoint_in_token_mode_answers_run_id_and_token(stack: Stack) -> None:
    n = nonce()
    with _client() as client:
        first = client.get(f"{stack.app.origin}/ep/token", params={"n": n})
        assert first.status_code == 200, first.text
        body = first.json()
        run_id, token = body["run_id"], body["token"]
        output = client.get(
            f"{stack.server.url}/v1/checkpoint/{run_id}/output", params={"token": token}
        )
    assert output.status_code == 200, output.text
    assert output.json()["after"] == f"after-{n}"
    assert _run_of(stack, run_id)["status"] == "Completed"


def test_streamed_endpoint_answered_in_the_request(stack: Stack) -> None:
    n = nonce()
    headers = {"accept": "text/event-stream"}
    with _client() as client:
        response = client.get(f"{stack.app.origin}/ep/quick", params={"n": n}, headers=headers)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _sse(response.text)
    names = [name for name, _ in events]
    assert names[0] == "inngest.metadata", names
    assert "inngest.response" in names, names
    result = as_obj(dict(events)["inngest.response"])
    assert result["status"] == "succeeded"
    assert json.loads(str(as_obj(result["response"])["body"])) == {"n": n, "sum": 3}


def test_streamed_endpoint_that_sleeps_follows_the_redirect(stack: Stack) -> None:
    n = nonce()
    headers = {"accept": "text/event-stream"}
    with _client() as client:
        direct = client.get(f"{stack.app.origin}/ep/sleepy", params={"n": n}, headers=headers)
        events = dict(_sse(direct.text))
        assert "inngest.response" not in events, events  # the run went on asynchronously
        redirect = as_obj(events["inngest.redirect_info"])
        url = str(redirect["url"])
        assert url.startswith(f"{stack.server.url}/v1/realtime/sse?token="), url
        rest = client.get(url, headers=headers)
    assert rest.status_code == 200, rest.text
    later = dict(_sse(rest.text))
    assert as_obj(later["inngest.metadata"])["runId"] == redirect["runId"]
    result = as_obj(later["inngest.response"])
    assert result["status"] == "succeeded"
    body = json.loads(str(as_obj(result["response"])["body"]))
    assert body == {"before": f"before-{n}", "after": f"after-{n}"}


def test_chunks_streamed_after_going_async_reach_the_redirected_caller(stack: Stack) -> None:
    n = nonce()
    headers = {"accept": "text/event-stream"}
    with _client() as client:
        direct = client.get(f"{stack.app.origin}/ep/streams", params={"n": n}, headers=headers)
        redirect = as_obj(dict(_sse(direct.text))["inngest.redirect_info"])
        rest = client.get(str(redirect["url"]), headers=headers)
    assert rest.status_code == 200, rest.text
    events = _sse(rest.text)
    names = [name for name, _ in events]
    # Ours first, then what the SDK sent the tee (its own metadata is not repeated): the
    # chunks in order, the step's commit, and the answer last.
    stream, commit = "inngest.stream", "inngest.commit"
    assert names == ["inngest.metadata", stream, stream, stream, commit, "inngest.response"]
    chunks = [as_obj(data)["data"] for name, data in events if name == "inngest.stream"]
    assert chunks == [{"chunk": i, "of": f"before-{n}"} for i in (1, 2, 3)], events
    pushed = [as_obj(data) for name, data in events if name == "inngest.stream"]
    assert {p.get("hashedStepId") for p in pushed} == {sha1("after")}, pushed
    result = as_obj(events[-1][1])
    assert result["status"] == "succeeded"
    body = json.loads(str(as_obj(result["response"])["body"]))
    assert body == {"before": f"before-{n}", "after": f"after-{n}"}


def test_endpoint_that_fails_for_good(stack: Stack) -> None:
    n = nonce()
    with _client() as client:
        response = client.get(f"{stack.app.origin}/ep/fails", params={"n": n})
    assert response.status_code == 400, response.text
    assert f"endpoint {n} gives up" in response.text


def test_metadata_and_scores_through_the_sdk_with_limits(stack: Stack) -> None:
    tag = nonce()
    sizes = [1000, 70_000]
    event_id = stack.server.send_one("dep/meta", {"tag": tag, "sizes": sizes})
    run = stack.server.wait_for_run(event_id)
    assert run.status == "Completed", run.output
    refused = as_list(as_obj(run.output)["refused"])
    assert refused[0] is None
    assert "413" in str(refused[1]) or "64KB" in str(refused[1]), refused
    assert "exceeds maximum size of 64KB" in str(refused[1]), refused
    with _client() as client:
        stored = client.get(f"{stack.server.url}/v1/runs/{run.run_id}/metadata").json()["data"]
        kinds = [(e["kind"], e["scope"]) for e in stored]
        assert ("userland.tags", "run") in kinds, kinds
        assert ("userland.default", "step") in kinds, kinds
        assert ("inngest.score", "run") in kinds
        assert ("userland.big1000", "run") in kinds
        tags = next(e for e in stored if e["kind"] == "userland.tags")
        assert tags["values"] == {"tag": tag, "n": 1}
        step = next(e for e in stored if e["kind"] == "userland.default")
        assert step["step_hash"] == sha1("work")
        score = next(e for e in stored if e["kind"] == "inngest.score")
        assert score["values"] == {"accuracy": {"value": 0.75}}
        # Set inside step.run: sent on the step's op, stored for that step; the update over
        # the 64 KiB limit is dropped and the run went on.
        inside = next(e for e in stored if e["kind"] == "userland.progress")
        assert (inside["scope"], inside["step_hash"]) == ("step", sha1("inside"))
        assert inside["values"] == {"phase": "inside", "tag": tag}
        assert "userland.huge" not in {e["kind"] for e in stored}

        # The same, on the run's trace: the run's on its root span, a step's on the step's.
        trace = _trace(stack, run.run_id)
        on_root = [as_obj(m) for m in as_list(trace["metadata"])]
        root = {(m["kind"], m["scope"]): m["values"] for m in on_root}
        assert root[("userland.tags", "run")] == {"tag": tag, "n": 1}
        assert root[("inngest.score", "run")] == {"accuracy": {"value": 0.75}}
        spans = {as_obj(s)["stepID"]: as_obj(s) for s in as_list(trace["childrenSpans"])}
        [on_inside] = as_list(spans[sha1("inside")]["metadata"])
        assert as_obj(on_inside)["kind"] == "userland.progress"
        assert as_obj(on_inside)["values"] == {"phase": "inside", "tag": tag}
        [on_work] = as_list(spans[sha1("work")]["metadata"])
        assert as_obj(on_work)["values"] == {"where": "work"}

        # Inngest's scores API, and its refusals.
        url = f"{stack.server.url}/v2/runs/{run.run_id}/scores"
        ok = client.post(url, json={"scores": [{"name": "passed", "value": True}]})
        assert ok.status_code == 200, ok.text
        assert ok.json()["data"] == [
            {
                "run_id": run.run_id,
                "name": "passed",
                "value": True,
                "step_id": None,
                "experiment": None,
            }
        ]
        bad = client.post(url, json={"scores": [{"name": "x", "value": "high"}]})
        assert bad.status_code == 400
        assert "finite number or boolean" in bad.text

        # The run's cumulative limit (1 MiB): 16 updates of ~64 KiB fill it; the next is refused
        # whole, naming the limit, and nothing of it is stored.
        meta_url = f"{stack.server.url}/v1/runs/{run.run_id}/metadata"
        chunk = {"kind": "userland.fill", "op": "set", "values": {"b": "y" * 60_000}}
        answers = [
            client.post(meta_url, json={"target": {"run_id": run.run_id}, "metadata": [chunk]})
            for _ in range(18)
        ]
        codes = [a.status_code for a in answers]
        assert 200 in codes, codes
        assert codes[-1] == 413, codes
        assert "cumulative metadata size exceeds limit" in answers[-1].text
        assert "1048576" in answers[-1].text
        before = len(client.get(meta_url).json()["data"])
        again = client.post(meta_url, json={"metadata": [chunk]})
        assert again.status_code == 413
        assert len(client.get(meta_url).json()["data"]) == before
