"""How a call's checkpoints are batched (``sdk.serve.checkpointer``): fast steps share a
request, a finished step is not held back for long, and none is lost either way."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

import stepwell
from stepwell import Context
from stepwell.protocol.step_ids import hash_step_id
from stepwell.sdk.serve.checkpointer import FLUSH_AFTER_S
from tests.integration.sdk.serving import FakeInngest, call_body, serving


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
    api_url: str, count: int, step_seconds: float, ended: list[float] | None = None
) -> httpx.Response:
    app = stepping_app(count, step_seconds, [] if ended is None else ended)
    served = stepwell.serve(app, is_dev=True, base_url=api_url)
    call = call_body(event={"name": "batching/go", "data": {}, "id": "e1", "ts": 1, "user": {}})
    call["ctx"].update({"fn_id": "fn-uuid", "qi_id": "item-1", "request_id": "req-1"})
    async with serving(served) as url, httpx.AsyncClient(timeout=60) as client:
        return await client.post(f"{url}/api/inngest?fnId=batching-steps&stepId=step", json=call)


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
