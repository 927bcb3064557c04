"""Issue 11's program, as written, on SQLite: typed events, typed flow settings, step.run
decoded by its return type, step.fetch against a loopback server, a typed wait for an event,
a signal, a race, engine.invoke and a refused send. The program's fixed sleeps are bounded
waits on the run's trace here, and its prints are asserts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import stepwell
from stepwell import Context
from stepwell.ports.records import SpanStatus
from tests.integration.sdk.serving import serving
from tests.waiting import eventually


class OrderPlaced(stepwell.EventData, name="shop/order.placed"):
    order_id: int
    amount: float


class PaymentReceived(stepwell.EventData, name="shop/payment.received"):
    order_id: int


class Receipt(BaseModel):
    order_id: int
    total: float


def make_receipt(order: OrderPlaced) -> Receipt:
    return Receipt(order_id=order.order_id, total=order.amount * 1.2)


def typed_app(rate_url: str) -> tuple[stepwell.App, stepwell.Function[Receipt]]:
    app = stepwell.App("typed")

    @app.function(
        "checkout",
        trigger=stepwell.on_event(OrderPlaced, if_="event.data.amount > 0"),
        concurrency=stepwell.Concurrency(limit=5, key="event.data.order_id"),
        throttle=stepwell.Throttle(limit=100, period=timedelta(seconds=1)),
        retries=2,
    )
    async def checkout(ctx: Context[OrderPlaced]) -> Receipt:
        order = ctx.event.data
        receipt = await ctx.step.run("receipt", make_receipt, order)
        rate = await ctx.step.fetch("rate", rate_url)
        assert rate.status == 200 and rate.json()["rate"] == 1.0  # noqa: PT018 (as written)
        paid = await ctx.step.wait_for_event(
            "paid", event=PaymentReceived, match="data.order_id", timeout="30s"
        )
        if paid is None:
            raise stepwell.NonRetriableError("no payment")
        approved = await ctx.step.wait_for_signal(
            "approve", signal=f"approve-{order.order_id}", timeout="30s"
        )
        first = await ctx.group.parallel(
            [
                lambda: ctx.step.run("slow", asyncio.sleep, 1, "slow"),
                lambda: ctx.step.run("fast", lambda: "fast"),
            ],
            mode="race",
        )
        return Receipt(
            order_id=receipt.order_id,
            total=receipt.total if approved and first == "fast" else 0,
        )

    @app.function("quote")
    async def quote(ctx: Context[OrderPlaced]) -> Receipt:
        return await ctx.step.run("receipt", make_receipt, ctx.event.data)

    return app, quote


@pytest.fixture
async def rate_url() -> AsyncIterator[str]:
    async def rate(request: Request) -> JSONResponse:
        return JSONResponse({"rate": 1.0})

    async with serving(Starlette(routes=[Route("/rate", rate)])) as url:
        yield f"{url}/rate"


async def waiting_on(engine: stepwell.Engine, run_id: str, step: str) -> bool:
    spans = await engine.history.run_trace(run_id)
    return any(s.name == step and s.status is SpanStatus.WAITING for s in spans)


async def the_run_id(engine: stepwell.Engine, event_id: str) -> str:
    found: list[str] = []

    async def started() -> bool:
        found[:] = [r.run_id for r in await engine.history.list_runs(event_id=event_id)]
        return bool(found)

    await eventually(started, what="the checkout run")
    return found[0]


async def test_the_issue_s_program(sqlite_url: str, rate_url: str) -> None:
    app, quote = typed_app(rate_url)
    async with app.embedded(sqlite_url) as engine:
        [event_id] = await engine.send(OrderPlaced(order_id=7, amount=10.0))
        run_id = await the_run_id(engine, event_id)
        await eventually(lambda: waiting_on(engine, run_id, "paid"), what="waiting for payment")
        await engine.send(PaymentReceived(order_id=7))
        await eventually(lambda: waiting_on(engine, run_id, "approve"), what="awaiting approval")
        await engine.send_signal("approve-7", {"ok": True})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        assert run.status is stepwell.RunStatus.COMPLETED, run.error
        assert run.output == {"order_id": 7, "total": 12.0}

        receipt = await engine.invoke(quote, OrderPlaced(order_id=8, amount=5.0), timeout=30)
        assert receipt == Receipt(order_id=8, total=6.0)
        assert type(receipt) is Receipt

        with pytest.raises(stepwell.InvalidEventError) as refused:
            await engine.send(stepwell.Event(name="shop/order.placed", data={"order_id": "x"}))
        assert "order_id" in str(refused.value)
