"""The dashboard tests' app, on our SDK: steps that complete, sleep, fail, run side by side,
invoke another function and send events. Served by ``stepwell dev --app`` in the browser
tests (``tests.integration.dashboard.demo_app:app``) and mounted in-process in the others."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import stepwell
from stepwell import Context

app = stepwell.App("demo")


@app.function("greet", trigger=stepwell.on_event("demo/greet"), name="Greet")
async def greet(ctx: Context) -> dict[str, Any]:
    async def hello() -> str:
        return f"hello {ctx.event.data.get('user', 'you')}"

    async def shout(text: str) -> str:
        return text.upper()

    said = await ctx.step.run("say hello", hello)
    loud = await ctx.step.run("shout it", shout, said)
    return {"ok": True, "said": loud, "user": ctx.event.data.get("user")}


@app.function("nap", trigger=stepwell.on_event("demo/nap"), name="Nap")
async def nap(ctx: Context) -> str:
    async def before() -> str:
        return "awake"

    await ctx.step.run("get ready", before)
    await ctx.step.sleep("long nap", datetime.timedelta(hours=1))
    return "rested"


@app.function("fragile", trigger=stepwell.on_event("demo/fragile"), name="Fragile", retries=0)
async def fragile(ctx: Context) -> str:
    async def load() -> int:
        return 41

    async def explode(value: int) -> int:
        if not ctx.event.data.get("fixed"):
            raise ValueError(f"cannot handle {value}")
        return value + 1

    value = await ctx.step.run("load input", load)
    return str(await ctx.step.run("explode", explode, value))


@app.function("fanout", trigger=stepwell.on_event("demo/fanout"), name="Fan out")
async def fanout(ctx: Context) -> list[Any]:
    async def slow(n: int) -> int:
        await asyncio.sleep(0.05)
        return n

    left, right = await asyncio.gather(
        ctx.step.run("left branch", slow, 1), ctx.step.run("right branch", slow, 2)
    )
    ids = await ctx.step.send_event("notify", stepwell.Event(name="demo/notified", data={}))
    child = await ctx.step.invoke("ask greet", function=greet, data={"user": "child"})
    return [left, right, ids, child]
