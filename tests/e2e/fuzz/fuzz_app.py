"""The app ``stepwell dev --app tests.e2e.fuzz.fuzz_app:app`` serves while it is fuzzed.

``echo`` has one step, so that seeded runs have a memo (rerun ``from_step``) and an output;
nothing triggers ``idle``, to aim replays and pauses at (a replay of ``echo`` would rerun every
event); ``wait`` runs stay waiting for an event the whole time, so that hostile events are
matched against them and cancellations filter them.
"""

from __future__ import annotations

from datetime import timedelta

import stepwell
from stepwell import Context

APP_ID = "fuzzapp"
EVENT = "fuzz/echo"
FUNCTION_SLUG = f"{APP_ID}-echo"
IDLE_SLUG = f"{APP_ID}-idle"
"""A function no event of the fuzzing triggers: replays of it have no events to replay."""

app = stepwell.App(APP_ID)


def _double(n: object) -> object:
    return n * 2 if isinstance(n, int) and not isinstance(n, bool) else None


@app.function("echo", trigger=stepwell.on_event(EVENT), retries=0)
async def echo(ctx: Context) -> dict[str, object]:
    n = ctx.event.data.get("n")
    doubled = await ctx.step.run("double", _double, n)
    return {"n": n, "doubled": doubled}


@app.function("idle", trigger=stepwell.on_event("fuzz/idle"), retries=0)
async def idle(ctx: Context) -> None:
    return None


WAIT_EVENT = "fuzz/wait"
WAKE_EVENT = "fuzz/wake"
WAIT_SLUG = f"{APP_ID}-wait"


@app.function("wait", trigger=stepwell.on_event(WAIT_EVENT), retries=0)
async def wait(ctx: Context) -> object:
    """Waits an hour for a ``fuzz/wake`` event with its key: every hostile ``fuzz/wake`` the
    fuzzing sends is matched against it (``async.data.key``), and cancellations filter it."""
    woken = await ctx.step.wait_for_event(
        "wake",
        event=WAKE_EVENT,
        if_="async.data.key == event.data.key",
        timeout=timedelta(hours=1),
    )
    return None if woken is None else woken.data
