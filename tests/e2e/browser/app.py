"""The app the browser tests' server runs (``--app tests.e2e.browser.app:app``): a step that
sleeps, a step that fails, and functions with flow control, so every page has something to show."""

from __future__ import annotations

from datetime import timedelta

import stepwell
from stepwell import Context

app = stepwell.App("browser-shop")


def _boom() -> None:
    raise ValueError("the card was declined")


@app.function("nap", trigger=stepwell.on_event("shop/nap"))
async def nap(ctx: Context) -> str:
    """Runs a step, then sleeps for an hour: a run that stays Running."""
    await ctx.step.run("prepare", lambda: {"ready": True})
    await ctx.step.sleep("rest", timedelta(hours=1))
    return "rested"


@app.function("charge", trigger=stepwell.on_event("shop/charge"), retries=0)
async def charge(ctx: Context) -> None:
    """A step that succeeds, then one that fails: a run that ends Failed."""
    await ctx.step.run("reserve", lambda: {"reserved": ctx.event.data.get("order_id")})
    await ctx.step.run("capture", _boom)


@app.function(
    "ship",
    trigger=stepwell.on_event("shop/ship"),
    concurrency={"limit": 2, "key": "event.data.tenant"},
    throttle={"limit": 10, "period": "1m"},
)
async def ship(ctx: Context) -> dict[str, object]:
    """Completes at once, under concurrency and throttle limits."""
    label = await ctx.step.run("label", lambda: f"label-{ctx.event.data.get('order_id')}")
    return {"shipped": True, "label": label}


@app.function(
    "digest",
    trigger=stepwell.on_event("shop/digest"),
    debounce={"period": "1h", "key": "event.data.user"},
    rate_limit={"limit": 5, "period": "1h"},
)
async def digest(ctx: Context) -> str:
    """Debounced for an hour: events wait in the debounce, no run starts during a test."""
    return f"digest for {ctx.event.data.get('user')}"
