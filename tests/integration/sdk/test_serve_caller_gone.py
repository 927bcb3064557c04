"""A call whose caller hangs up stops running ahead (``stepwell.serve`` on uvicorn).

With async checkpointing a call runs step after step while it posts their results. When the
server that made the call is killed, another one calls again once the lease runs out; every
step this call ran meanwhile would run a second time. So once the ASGI server reports the
disconnect, the next step to finish ends the call.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import stepwell
from stepwell import Context
from tests.integration.sdk.serving import FakeInngest, call_body, serving
from tests.waiting import eventually

STEPS = 40


def long_app(ran: list[int], left: asyncio.Event) -> stepwell.App:
    app = stepwell.App("gone")

    async def body(index: int) -> int:
        ran.append(index)
        await asyncio.sleep(0.02)  # the call lasts long enough to hang up in the middle
        return index

    @app.function("long", trigger=stepwell.on_event("gone/go"))
    async def long(ctx: Context) -> int:
        try:
            total = 0
            for i in range(STEPS):
                total += await ctx.step.run(f"s{i}", body, i)
            return total
        finally:
            left.set()

    return app


def _request(port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _call_then(
    fake_api: tuple[FakeInngest, str], *, hang_up_after: int | None
) -> tuple[list[int], FakeInngest]:
    fake, api_url = fake_api
    ran: list[int] = []
    left = asyncio.Event()
    served = stepwell.serve(long_app(ran, left), is_dev=True, base_url=api_url, checkpoint=True)
    call = call_body(event={"name": "gone/go", "data": {}, "id": "e1", "ts": 1, "user": {}})
    call["ctx"].update({"fn_id": "fn-uuid", "qi_id": "item-1", "request_id": "req-1"})
    async with serving(served) as url:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        path = "/api/inngest?fnId=gone-long&stepId=step"
        writer.write(_request(port, path, json.dumps(call).encode()))
        await writer.drain()
        if hang_up_after is not None:
            await eventually(lambda: len(ran) >= hang_up_after, timeout=30, what="steps run")
            writer.close()  # the server that made the call is gone
        else:
            await asyncio.wait_for(reader.read(1), 60)
        await asyncio.wait_for(left.wait(), 60)
        writer.close()
    return ran, fake


async def test_a_call_stops_at_the_next_step_once_its_caller_hangs_up(
    fake_api: tuple[FakeInngest, str],
) -> None:
    ran, fake = await _call_then(fake_api, hang_up_after=3)
    # The step running at the hang-up ends the call: nothing is started after it.
    assert ran == list(range(len(ran)))
    assert 3 <= len(ran) <= 5, ran
    posted: list[Any] = [s["id"] for r in fake.of("/v1/checkpoint/") for s in r.body["steps"]]
    assert len(posted) < len(ran)  # the last step was answered (to nobody), not checkpointed


async def test_a_caller_that_stays_gets_every_step_checkpointed(
    fake_api: tuple[FakeInngest, str],
) -> None:
    ran, fake = await _call_then(fake_api, hang_up_after=None)
    assert ran == list(range(STEPS))
    posted = [s["id"] for r in fake.of("/v1/checkpoint/") for s in r.body["steps"]]
    assert len(posted) == STEPS
