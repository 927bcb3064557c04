"""An app written on the official Inngest Python SDK (``inngest``), unchanged for Stepwell.

Nothing here imports Stepwell: point the app at ``stepwell dev`` with ``INNGEST_DEV=1`` and
``INNGEST_BASE_URL=http://127.0.0.1:8288``, and the server syncs it and runs its functions as
Inngest's own dev server would.
"""

from __future__ import annotations

import datetime

import fastapi
import inngest
import inngest.fast_api

client = inngest.Inngest(app_id="inngest-py-shop")


async def look_up_customer(customer_id: str) -> dict[str, str]:
    return {"customer_id": customer_id, "tier": "gold" if customer_id.startswith("g") else "std"}


@client.create_function(
    fn_id="score-customer",
    trigger=inngest.TriggerEvent(event="crm/customer.updated"),
    retries=2,
)
async def score_customer(ctx: inngest.Context) -> dict[str, object]:
    customer_id = str(ctx.event.data["customer_id"])
    customer = await ctx.step.run("look-up", look_up_customer, customer_id)
    await ctx.step.sleep("settle", datetime.timedelta(seconds=1))

    async def score() -> int:
        return 90 if customer["tier"] == "gold" else 40

    points = await ctx.step.run("score", score)
    return {"customer_id": customer_id, "score": points}


api = fastapi.FastAPI()
inngest.fast_api.serve(api, client, [score_customer])  # /api/inngest
