"""The example app the test kit's tests run: an order that is charged, waits for its payment,
cools off for a second and sends an email; plus a few functions for the other behaviours."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import stepwell
from stepwell import Context, SyncContext

app = stepwell.App("shop")

charged: list[int] = []
"""Orders the real ``charge`` step charged (a stub leaves this alone)."""
flaky_calls: list[int] = []


def charge(order_id: int) -> dict[str, Any]:
    charged.append(order_id)
    return {"order_id": order_id, "charged": True, "real": True}


def send_email(order_id: int) -> str:
    return "e-1"


@app.function("process-order", trigger=stepwell.on_event("shop/order.placed"), retries=3)
async def process_order(ctx: Context) -> dict[str, Any]:
    order_id = ctx.event.data["order_id"]
    receipt = await ctx.step.run("charge", charge, order_id)
    paid = await ctx.step.wait_for_event(
        "wait-payment", event="shop/payment.received", match="data.order_id", timeout="1d"
    )
    if paid is None:
        return {"receipt": receipt, "paid": False}
    await ctx.step.sleep("cool-off", timedelta(seconds=1))
    email = await ctx.step.run("email", send_email, order_id)
    return {"receipt": receipt, "paid": True, "email": email}


@app.function("process-order-sync", trigger=stepwell.on_event("shop/sync-order.placed"))
def process_order_sync(ctx: SyncContext) -> dict[str, Any]:
    order_id = ctx.event.data["order_id"]
    receipt = ctx.step.run("charge", charge, order_id)
    ctx.step.sleep("cool-off", "1s")
    return {"receipt": receipt, "email": ctx.step.run("email", send_email, order_id)}


@app.function("weekly-digest", trigger=stepwell.on_event("digest/requested"))
async def weekly_digest(ctx: Context) -> int:
    total = 0
    for week in range(4):
        await ctx.step.sleep(f"week-{week}", timedelta(days=7))
        total += await ctx.step.run(f"count-{week}", lambda: 1)
    return total


def flaky() -> str:
    flaky_calls.append(len(flaky_calls))
    if len(flaky_calls) < 3:
        raise RuntimeError(f"attempt {len(flaky_calls)} failed")
    return "ok"


@app.function("flaky", trigger=stepwell.on_event("flaky/go"), retries=4)
async def flaky_fn(ctx: Context) -> str:
    return await ctx.step.run("call", flaky)


@app.function("lookup-price")
async def lookup_price(ctx: Context) -> int:
    return int(ctx.event.data["sku"]) * 100


@app.function("quote", trigger=stepwell.on_event("shop/quote.requested"))
async def quote(ctx: Context) -> dict[str, Any]:
    price = await ctx.step.invoke("price", function=lookup_price, data={"sku": 3})
    reply = await ctx.step.wait_for_event("reply", event="shop/quote.accepted", timeout="1h")
    return {"price": price, "accepted": reply is not None and reply.data}


@app.function("reminder", trigger=stepwell.on_event("shop/cart.abandoned"))
async def reminder(ctx: Context) -> str:
    await ctx.step.sleep("wait-an-hour", "1h")
    return await ctx.step.run("remind", lambda: "reminded")


@app.function("pack", trigger=stepwell.on_event("shop/pack"))
async def pack(ctx: Context) -> list[str]:
    box, label = await asyncio.gather(
        ctx.step.run("box", lambda: "real box"), ctx.step.run("label", lambda: "real label")
    )
    return [box, label]
