"""step.ai.infer with every provider format, and deferred runs, from an app on the official
TypeScript SDK (inngest 4.24.0, ``apps/ts/extras_app.mjs``), against ``stepwell dev``.

The model calls land on ``stand_in`` (a loopback HTTP server standing in for the providers);
each test checks what the provider received: its URL, its auth header, the adapter's headers.
Deferred runs use the SDK's ``createDefer``/``defer()`` (experimental in 4.24.0): the children
start when the parent ends, completed or failed, and an aborted defer starts nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import (
    Stack,
    StandIn,
    StoredEvent,
    as_obj,
    nonce,
    start_stack,
    ts_app,
)

pytestmark = [pytest.mark.timeout(300)]


EXTRAS = ts_app("extras_app.mjs")


@pytest.fixture(scope="module")
def stack(ts_app_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    slugs = ("xapp-infer", "xapp-deferred-child", "xapp-deferring-parent")
    with start_stack(EXTRAS, tmp_path_factory.mktemp("e2e-ts-extras"), slugs) as running:
        yield running


# format → (path after the base URL, the header carrying the key, how the key appears there)
FORMATS = {
    "openai": ("chat/completions", "authorization", "Bearer {key}"),
    "openai-responses": ("responses", "authorization", "Bearer {key}"),
    "grok": ("chat/completions", "authorization", "Bearer {key}"),
    "deepseek": ("chat/completions", "authorization", "Bearer {key}"),
    "anthropic": ("messages", "x-api-key", "{key}"),
    "gemini": ("models/m-gemini:generateContent", None, None),
    "azure-openai": ("openai/deployments/dep/chat/completions", "api-key", "{key}"),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_ai_infer_reaches_the_provider_as_it_documents(
    stack: Stack, stand_in: StandIn, fmt: str
) -> None:
    n = nonce()
    key = f"key-{n}"
    base = f"{stand_in.url}/ai/ok/{n}/v1/"
    event_id = stack.server.send_one("x/infer", {"format": fmt, "base_url": base, "api_key": key})
    run = stack.server.wait_for_run(event_id)
    assert run.status == "Completed", run.output
    [request] = stand_in.requests(f"/ai/ok/{n}/")
    path, header, shape = FORMATS[fmt]
    assert request.path == f"/ai/ok/{n}/v1/{path}", request.path
    if header is not None and shape is not None:
        assert request.headers.get(header) == shape.format(key=key), request.headers
    if fmt == "gemini":
        # The adapter names the key in the URL; the server adds no second one.
        assert request.query == {"key": key}
        assert "authorization" not in request.headers
    if fmt == "azure-openai":
        assert request.query == {"api-version": "2024-06-01"}
        assert "authorization" not in request.headers
    if fmt == "anthropic":
        assert request.headers.get("anthropic-version") == "2023-06-01"
        assert "authorization" not in request.headers
    answer = as_obj(as_obj(run.output, "output").get("answer"), "answer")
    assert answer.get("id") == f"chatcmpl-{n}"


def _children(stack: Stack, parent_run: str, count: int) -> list[StoredEvent]:
    def of_parent(event: StoredEvent) -> bool:
        meta = as_obj(event.data.get("_inngest", {}), "_inngest")
        return meta.get("parent_run_id") == parent_run

    stack.server.wait_for_event("inngest/deferred.schedule", of_parent)
    events = [e for e in stack.server.events("inngest/deferred.schedule") if of_parent(e)]
    assert len(events) == count, events
    return events


@pytest.mark.parametrize("fail", [False, True])
def test_deferred_runs_start_when_the_parent_ends(stack: Stack, fail: bool) -> None:
    tag = nonce()
    run = stack.server.wait_for_run(stack.server.send_one("x/defer", {"tag": tag, "fail": fail}))
    assert run.status == ("Failed" if fail else "Completed"), run.output
    events = _children(stack, run.run_id, 2)
    assert sorted(str(e.data.get("which")) for e in events) == ["keep", "late"]
    for event in events:
        meta = as_obj(event.data.get("_inngest"), "_inngest")
        assert meta.get("fn_slug") == "xapp-deferred-child"
        assert meta.get("parent_fn_slug") == "xapp-deferring-parent"
        [child] = stack.server.wait_for_runs(event.internal_id)
        assert child.status == "Completed", child.output
        output = as_obj(child.output, "child output")
        # The SDK took its metadata off the event, and handed the parent to the handler.
        assert output.get("data") == {"tag": tag, "which": event.data.get("which")}
        assert output.get("parents") == [{"fnSlug": "xapp-deferring-parent", "runId": run.run_id}]
