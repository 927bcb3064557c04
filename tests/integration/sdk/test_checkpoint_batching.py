"""How a call's checkpoints are batched (``sdk.serve.checkpointer``): fast steps share a
request, a finished step is not held back for long, and none is lost either way."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from typing import Any

import httpx
import pytest

import stepwell
from stepwell import Context
from stepwell.protocol import signing
from stepwell.protocol.step_ids import hash_step_id
from stepwell.sdk.serve import checkpointer
from stepwell.sdk.serve.checkpointer import FLUSH_AFTER_S, MAX_BACKLOG
from stepwell.sdk.serve.messages import SDK_NAME
from tests.integration.sdk.serving import FakeInngest, call_body, serving
from tests.waiting import eventually


def stepping_app(count: int, step_seconds: float, ended: list[float]) -> stepwell.App:
    app = stepwell.App("batching")

    async def body(index: int) -> int:
        ended.append(time.monotonic())
        if step_seconds:
            await asyncio.sleep(step_seconds)
        return index

    @app.function("steps", trigger=stepwell.on_event("batching/go"))
    async def steps(ctx: Context) -> list[int]:
        return [await ctx.step.run(f"s{i}", body, i) for i in range(count)]

    return app


async def _call(
    api_url: str,
    count: int,
    step_seconds: float,
    ended: list[float] | None = None,
    *,
    keys: tuple[str, str] | None = None,
) -> httpx.Response:
    """One call of ``count`` steps; with ``keys`` (signing key, fallback) in cloud mode."""
    app = stepping_app(count, step_seconds, [] if ended is None else ended)
    if keys is None:
        served = stepwell.serve(app, is_dev=True, base_url=api_url)
    else:
        served = stepwell.serve(
            app, is_dev=False, signing_key=keys[0], signing_key_fallback=keys[1], base_url=api_url
        )
    call = call_body(event={"name": "batching/go", "data": {}, "id": "e1", "ts": 1, "user": {}})
    call["ctx"].update({"fn_id": "fn-uuid", "qi_id": "item-1", "request_id": "req-1"})
    body = json.dumps(call).encode()
    headers = {"Content-Type": "application/json"}
    if keys is not None:
        headers["X-Inngest-Signature"] = signing.signature(signing.canonical(body), keys[0])
    async with serving(served) as url, httpx.AsyncClient(timeout=60) as client:
        return await client.post(
            f"{url}/api/inngest?fnId=batching-steps&stepId=step", content=body, headers=headers
        )


def _posted(fake: FakeInngest) -> list[list[Any]]:
    return [[s["id"] for s in r.body["steps"]] for r in fake.of("/v1/checkpoint/")]


async def test_fast_steps_share_one_checkpoint(fake_api: tuple[FakeInngest, str]) -> None:
    fake, api_url = fake_api
    ran: list[float] = []
    response = await _call(api_url, 20, 0.0, ran)
    assert response.status_code == 200, response.text
    assert response.json() == list(range(20))
    batches = _posted(fake)
    if ran[-1] - ran[0] < FLUSH_AFTER_S:  # all ended within one wait (unless very loaded)
        assert len(batches) == 1, batches
    assert len(batches) <= 3, batches
    assert [i for batch in batches for i in batch] == [hash_step_id(f"s{i}") for i in range(20)]


async def test_a_slow_step_does_not_hold_back_the_one_before(
    fake_api: tuple[FakeInngest, str],
) -> None:
    """Each step lasts several waits: its predecessor is sent while it runs."""
    fake, api_url = fake_api
    response = await _call(api_url, 6, FLUSH_AFTER_S * 5)
    assert response.status_code == 200, response.text
    batches = _posted(fake)
    assert [i for batch in batches for i in batch] == [hash_step_id(f"s{i}") for i in range(6)]
    # Six batches when nothing is late; a loaded machine may merge a few.
    assert len(batches) >= 3, batches


async def test_a_calls_batches_travel_on_one_connection_with_the_sdk_headers(
    fake_api: tuple[FakeInngest, str],
) -> None:
    """The checkpoints of a call reuse one kept-alive connection, and say who sends them."""
    fake, api_url = fake_api
    response = await _call(api_url, 5, FLUSH_AFTER_S * 3)
    assert response.status_code == 200, response.text
    posts = fake.of("/v1/checkpoint/")
    assert len(posts) >= 2, _posted(fake)
    assert len({post.peer for post in posts}) == 1, [post.peer for post in posts]
    for post in posts:
        assert post.headers["content-type"] == "application/json"
        assert post.headers["x-inngest-sdk"] == SDK_NAME
        assert post.body["run_id"] == "01RUN"
        assert (post.body["fn_id"], post.body["qi_id"]) == ("fn-uuid", "item-1")
    steps = [step for post in posts for step in post.body["steps"]]
    assert [(s["op"], s["id"], s["data"]) for s in steps] == [
        ("StepRun", hash_step_id(f"s{i}"), i) for i in range(5)
    ]


async def test_a_refused_signing_key_checkpoints_with_the_fallback(
    fake_api: tuple[FakeInngest, str],
) -> None:
    """Cloud mode: each batch carries the hashed signing key, and on 401 the fallback's."""
    fake, api_url = fake_api
    key = "signkey-prod-12345678"
    fallback = "signkey-prod-abcd"
    key_hash = signing.hashed_key(key)
    fake.refuse_keys = {key_hash}
    response = await _call(api_url, 3, 0.0, keys=(key, fallback))
    assert response.status_code == 200, response.text
    assert response.json() == [0, 1, 2]  # every step checkpointed: none answered again
    posts = fake.of("/v1/checkpoint/")
    fallback_hash = hashlib.sha256(bytes.fromhex("abcd")).hexdigest()
    assert [p.headers["authorization"] for p in posts] == [
        f"Bearer {key_hash}",
        f"Bearer {fallback_hash}",
    ] * (len(posts) // 2)
    accepted = [s["id"] for p in posts[1::2] for s in p.body["steps"]]
    assert accepted == [hash_step_id(f"s{i}") for i in range(3)]


async def test_a_full_backlog_goes_out_and_the_function_goes_on(
    fake_api: tuple[FakeInngest, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``MAX_BACKLOG`` finished steps are sent at once, and the function runs on while that
    batch is unanswered: only a second full backlog behind it would wait."""
    monkeypatch.setattr(checkpointer, "FLUSH_AFTER_S", 30.0)  # batches go by count only
    fake, api_url = fake_api
    fake.hold_checkpoints = asyncio.Event()
    count = MAX_BACKLOG + 40
    ran: list[float] = []
    call = asyncio.ensure_future(_call(api_url, count, 0.0, ran))
    try:
        await eventually(lambda: len(ran) == count, what="every step, the first batch unanswered")
        assert len(fake.of("/v1/checkpoint/")) == 1
    finally:
        fake.hold_checkpoints.set()
    response = await call
    assert response.status_code == 200, response.text
    assert response.json() == list(range(count))
    batches = _posted(fake)
    assert [len(batch) for batch in batches] == [MAX_BACKLOG, 40]
    assert [i for batch in batches for i in batch] == [hash_step_id(f"s{i}") for i in range(count)]
