"""A FastAPI app on Stepwell's SDK: a route sends an event, a durable function handles it.

``POST /orders`` sends ``shop/order.placed`` to the server with ``stepwell.Client``; the
function ``fulfil-order``, served at ``/api/inngest``, reserves stock, charges the card and
sends a confirmation, each as a step. Run it beside ``stepwell dev`` (see README.md).
"""

from __future__ import annotations

import fastapi
from starlette.routing import Route

import stepwell
from stepwell import Context


class OrderPlaced(stepwell.EventData, name="shop/order.placed"):
    """The event the route sends and the function is triggered by: checked on both sides."""

    order_id: int
    sku: str
    quantity: int = 1


workflows = stepwell.App("fastapi-shop")
# Reads INNGEST_DEV / INNGEST_BASE_URL (or STEPWELL_*): the dev server in development.
client = stepwell.Client()


def reserve_stock(sku: str, quantity: int) -> dict[str, object]:
    return {"sku": sku, "reserved": quantity}


def charge_card(order_id: int, quantity: int) -> int:
    return 1250 * quantity  # cents; a real app calls its payment provider here


@workflows.function("fulfil-order", trigger=stepwell.on_event(OrderPlaced), retries=3)
async def fulfil_order(ctx: Context[OrderPlaced]) -> dict[str, object]:
    order = ctx.event.data
    stock = await ctx.step.run("reserve-stock", reserve_stock, order.sku, order.quantity)
    charged = await ctx.step.run("charge", charge_card, order.order_id, order.quantity)
    await ctx.step.send_event(
        "confirm",
        {"name": "shop/order.confirmed", "data": {"order_id": order.order_id, "cents": charged}},
    )
    return {"order_id": order.order_id, "reserved": stock["reserved"], "charged_cents": charged}


api = fastapi.FastAPI(title="shop")
# The SDK's endpoint: the server syncs the app and calls its functions here.
api.router.routes.append(Route("/api/inngest", stepwell.serve(workflows)))


@api.post("/orders")
async def place_order(order: OrderPlaced) -> dict[str, str]:
    """Answer at once; the order is fulfilled durably in the background."""
    [event_id] = await client.send(order)
    return {"event_id": event_id}
