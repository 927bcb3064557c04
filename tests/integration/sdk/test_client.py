"""``stepwell.Client`` against our server as a process, with our app served on loopback:
``send`` (and ``send_sync``), ``invoke`` awaiting the result, ``send_signal``; and how it
reads its settings from the arguments and the ``STEPWELL_*``/``INNGEST_*`` environment."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import stepwell
from stepwell import Context
from stepwell.sdk.client import Client
from tests.integration.sdk.test_step_tools_http import served_stack
from tests.waiting import eventually


class OrderPlaced(stepwell.EventData, name="shop/order.placed"):
    order_id: str


def _app(seen: list[Any]) -> stepwell.App:
    app = stepwell.App("client-e2e")

    @app.function("on-order", trigger=stepwell.on_event(OrderPlaced))
    async def on_order(ctx: Context[OrderPlaced]) -> str:
        seen.append(ctx.event.data.order_id)
        return ctx.event.data.order_id

    @app.function("double", trigger=stepwell.on_event("calc/double"))
    async def double(ctx: Context) -> int:
        return int(await ctx.step.run("x2", lambda: ctx.event.data["n"] * 2))

    @app.function("boom", trigger=stepwell.on_event("calc/boom"), retries=0)
    async def boom(ctx: Context) -> None:
        raise stepwell.NonRetriableError("no")

    @app.function("waiter", trigger=stepwell.on_event("sig/wait"))
    async def waiter(ctx: Context) -> Any:
        return await ctx.step.wait_for_signal("w", signal="client-sig", timeout="1h")

    return app


async def test_client_sends_invokes_and_signals(tmp_path: Path) -> None:
    seen: list[Any] = []
    async with served_stack(tmp_path, _app(seen)) as server:
        client = Client(base_url=server, is_dev=True)
        [event_id] = await client.send(OrderPlaced(order_id="o-1"))
        assert event_id
        ids = await client.send([{"name": "shop/order.placed", "data": {"order_id": "o-2"}}])
        assert len(ids) == 1
        await eventually(lambda: {"o-1", "o-2"} <= set(seen), timeout=30, what=f"both runs {seen}")

        assert await client.invoke("client-e2e-double", {"n": 21}, timeout=30) == 42
        with pytest.raises(stepwell.InvocationError, match="no"):
            await client.invoke("client-e2e-boom", {}, timeout=30)

        assert await client.send_signal("client-sig", 1) is None  # nobody waits yet
        await client.send({"name": "sig/wait", "data": {}})
        delivered: list[str | None] = [None]

        async def signalled() -> bool:
            delivered[0] = await client.send_signal("client-sig", {"ok": True})
            return delivered[0] is not None

        await eventually(signalled, timeout=30, what="the waiter")
        # send_sync, from code without a running loop (a worker thread here).
        [sync_id] = await asyncio.to_thread(
            client.send_sync, {"name": "shop/order.placed", "data": {"order_id": "o-3"}}
        )
        assert sync_id
        await eventually(lambda: "o-3" in seen, timeout=30, what="the sync send's run")
        # ... and from code that runs inside a loop (this test's): asyncio.run cannot nest, so
        # the client sends from a thread of its own while this one waits.
        [nested_id] = client.send_sync({"name": "shop/order.placed", "data": {"order_id": "o-4"}})
        assert nested_id not in (sync_id, event_id)
        await eventually(lambda: "o-4" in seen, timeout=30, what="the in-loop sync send's run")
        # The other sync twins, from plain def code.
        assert await asyncio.to_thread(client.invoke_sync, "client-e2e-double", {"n": 5}) == 10
        assert await asyncio.to_thread(client.send_signal_sync, "client-sig", 2) is None


def test_settings_come_from_arguments_then_stepwell_then_inngest_variables() -> None:
    env = {
        "INNGEST_DEV": "1",
        "INNGEST_BASE_URL": "http://127.0.0.1:9000",
        "STEPWELL_EVENT_API_BASE_URL": "http://127.0.0.1:9001",
        "INNGEST_EVENT_KEY": "ik",
        "STEPWELL_EVENT_KEY": "sk",
    }
    client = Client(environ=env)
    assert client.api_origin == "http://127.0.0.1:9000/"
    assert client.event_origin == "http://127.0.0.1:9001/"
    assert Client(base_url="http://127.0.0.1:1", environ=env).event_origin == "http://127.0.0.1:1/"
    dev_url = Client(environ={"INNGEST_DEV": "http://127.0.0.1:7000"})
    assert dev_url.api_origin == dev_url.event_origin == "http://127.0.0.1:7000/"
    assert Client(environ={"INNGEST_DEV": "1"}).api_origin == "http://127.0.0.1:8288/"
    assert Client(environ={}).api_origin == "https://api.inngest.com/"
