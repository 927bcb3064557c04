"""The example from the README: an order pipeline with every kind of step."""

import asyncio
from datetime import timedelta

import stepwell
from stepwell import Context

app = stepwell.App("shop")


def charge(order_id: int) -> dict[str, object]:
    return {"order_id": order_id, "charged": True}


@app.function("ship", trigger=stepwell.on_event("shop/ship.requested"))
async def ship(ctx: Context) -> str:
    return f"shipped {ctx.event.data['order_id']}"


@app.function("process-order", trigger=stepwell.on_event("shop/order.placed"), retries=3)
async def process_order(ctx: Context) -> dict[str, object]:
    order_id = ctx.event.data["order_id"]
    charged = await ctx.step.run("charge", charge, order_id)
    await ctx.step.sleep("cool-off", timedelta(seconds=1))
    paid = await ctx.step.wait_for_event(
        "wait-payment",
        event="shop/payment.received",
        match="data.order_id",
        timeout=timedelta(seconds=30),
    )
    if paid is None:
        raise stepwell.NonRetriableError("payment never arrived")
    a, b = await asyncio.gather(
        ctx.step.run("receipt", lambda: "r-1"), ctx.step.run("email", lambda: "e-1")
    )
    shipped = await ctx.step.invoke("ship", function=ship, data={"order_id": order_id})
    await ctx.step.send_event(
        "done", stepwell.Event(name="shop/order.done", data={"order_id": order_id})
    )
    return {"charged": charged["charged"], "receipt": a, "email": b, "shipped": shipped}


async def main() -> None:
    async with app.embedded("sqlite:///.stepwell/shop.db") as engine:
        [event_id] = await engine.send("shop/order.placed", {"order_id": 7})
        await asyncio.sleep(1.5)
        await engine.send("shop/payment.received", {"order_id": 7})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        print(run.status, run.output)  # Completed {...}


if __name__ == "__main__":
    asyncio.run(main())
