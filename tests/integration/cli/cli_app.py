"""The app the CLI tests serve with ``stepwell dev --app``: two steps, and one slow function."""

import asyncio

import stepwell
from stepwell import Context

app = stepwell.App("cliapp")


@app.function("order", trigger=stepwell.on_event("cli/order"))
async def order(ctx: Context) -> dict[str, object]:
    charged = await ctx.step.run("charge", lambda: {"charged": True})
    await ctx.step.run("email", lambda: "sent")
    return {"order": ctx.event.data.get("n"), **charged}


@app.function("slow", trigger=stepwell.on_event("cli/slow"))
async def slow(ctx: Context) -> str:
    await ctx.step.run("nap", lambda: asyncio.sleep(0) and "napped")
    await ctx.step.sleep("long", "1h")
    return "woke"
