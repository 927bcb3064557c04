"""Flow control on the official Inngest Python SDK (``inngest`` 0.5.19), FastAPI under uvicorn.

Started by ``tests/e2e/test_flow_control_official.py`` as its own process::

    INNGEST_DEV=1 INNGEST_BASE_URL=http://127.0.0.1:<server port> \
        python tests/e2e/apps/py_flow_app.py --port <app port>

App id ``flowapp``, served at ``/api/inngest``: one function per flow-control rule of
protocol.md §3.4.2, each configured through the SDK's own API (``inngest.Concurrency``,
``inngest.Throttle``, ...). The TypeScript app (``apps/ts/flow_app.mjs``) defines the same
functions, triggers and return values with its SDK's options, so one test module checks both.

``GET /e2e/log`` lists every function request and step body the app executed, in order
(``{"notes": [{fn, run_id, what, attempt, t, nonce}]}``); ``t`` is the wall-clock time in
seconds. A step body that takes a while notes ``<label>:start`` and ``<label>:end``, so the
tests can tell how many ran at once.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import logging
import os
import time
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import uvicorn

APP_ID = "flowapp"

if os.environ.get("INNGEST_DEV", "") in ("", "0", "false"):
    raise SystemExit("set INNGEST_DEV=1 (and INNGEST_BASE_URL): this app talks to a dev server")

client = inngest.Inngest(app_id=APP_ID)

NOTES: list[dict[str, object]] = []


def note(ctx: inngest.Context, fn: str, what: str = "call") -> None:
    """Record that this request of ``fn`` happened, or that one of its step bodies ran."""
    nonce = ctx.event.data.get("nonce")
    NOTES.append(
        {
            "fn": fn,
            "run_id": ctx.run_id,
            "what": what,
            "attempt": ctx.attempt,
            "t": time.time(),  # noqa: SW101 (when the request came, on purpose)
            "nonce": nonce if isinstance(nonce, str) else None,
        }
    )


def _seconds(ctx: inngest.Context, name: str) -> float:
    value = ctx.event.data.get(name, 0)
    if not isinstance(value, int | float):
        raise TypeError(f"event.data.{name} should be a number, got {value!r}")
    return float(value)


async def hold(ctx: inngest.Context, fn: str, label: str) -> str:
    """A step body that stays busy for ``event.data.hold_s`` seconds, noting start and end."""
    note(ctx, fn, f"{label}:start")
    await asyncio.sleep(_seconds(ctx, "hold_s"))
    note(ctx, fn, f"{label}:end")
    return label


# Concurrency: at most 2 step bodies at once per event.data.k.
@client.create_function(
    fn_id="concurrency",
    concurrency=[inngest.Concurrency(limit=2, key="event.data.k")],
    trigger=inngest.TriggerEvent(event="flow/concurrency"),
)
async def concurrency(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "concurrency")
    key = str(ctx.event.data.get("k"))

    async def work() -> str:
        return await hold(ctx, "concurrency", f"work:{key}")

    await ctx.step.run("work", work)
    return {"k": key}


# Throttle (GCRA): limit 2 per 2 s, burst 1: three start at once, then one every second.
@client.create_function(
    fn_id="throttle",
    throttle=inngest.Throttle(
        limit=2, period=datetime.timedelta(seconds=2), burst=1, key="event.data.nonce"
    ),
    trigger=inngest.TriggerEvent(event="flow/throttle"),
)
async def throttle(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "throttle")

    async def start() -> str:
        note(ctx, "throttle", "start")
        return "started"

    await ctx.step.run("start", start)
    return {"n": ctx.event.data.get("n")}


# Rate limit: 2 runs per 30 s per event.data.key; the excess is dropped.
@client.create_function(
    fn_id="rate-limit",
    rate_limit=inngest.RateLimit(
        limit=2, period=datetime.timedelta(seconds=30), key="event.data.key"
    ),
    trigger=inngest.TriggerEvent(event="flow/rate-limit"),
)
async def rate_limit(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "rate-limit")
    return {"n": ctx.event.data.get("n")}


# Idempotency: one run per event.data.order (for 24 h).
@client.create_function(
    fn_id="idempotency",
    idempotency="event.data.order",
    trigger=inngest.TriggerEvent(event="flow/idempotency"),
)
async def idempotency(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "idempotency")
    return {"n": ctx.event.data.get("n")}


# Debounce: one run 2 s after the last event of an event.data.key, with that event.
@client.create_function(
    fn_id="debounce",
    debounce=inngest.Debounce(period=datetime.timedelta(seconds=2), key="event.data.key"),
    trigger=inngest.TriggerEvent(event="flow/debounce"),
)
async def debounce(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "debounce")
    return {"i": ctx.event.data.get("i"), "events": len(ctx.events)}


# Batching: up to 3 events per event.data.group, or whatever came within 2 s of the first.
@client.create_function(
    fn_id="batch",
    batch_events=inngest.Batch(
        max_size=3, timeout=datetime.timedelta(seconds=2), key="event.data.group"
    ),
    trigger=inngest.TriggerEvent(event="flow/batch"),
)
async def batch(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "batch")
    return {
        "values": [event.data.get("i") for event in ctx.events],
        "groups": [event.data.get("group") for event in ctx.events],
    }


# Priority: one run at a time; of the waiting runs, the biggest event.data.p goes first.
@client.create_function(
    fn_id="priority",
    concurrency=[inngest.Concurrency(limit=1)],
    priority=inngest.Priority(run="event.data.p"),
    trigger=inngest.TriggerEvent(event="flow/priority"),
)
async def priority(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "priority")
    n = ctx.event.data.get("n")

    async def work() -> str:
        return await hold(ctx, "priority", f"work:{n}")

    await ctx.step.run("work", work)
    return {"n": n}


async def _nap_between_steps(ctx: inngest.Context, fn: str) -> dict[str, object]:
    """A step, a sleep of event.data.sleep_s seconds (the run stays active), another step."""
    note(ctx, fn)

    async def begin() -> str:
        note(ctx, fn, "begin")
        return "begun"

    async def end() -> str:
        note(ctx, fn, "end")
        return "ended"

    await ctx.step.run("begin", begin)
    await ctx.step.sleep("nap", datetime.timedelta(seconds=_seconds(ctx, "sleep_s")))
    await ctx.step.run("end", end)
    return {"n": ctx.event.data.get("n")}


# Singleton skip: while a run of an event.data.key is active, new runs are skipped.
@client.create_function(
    fn_id="singleton-skip",
    singleton=inngest.Singleton(mode="skip", key="event.data.key"),
    trigger=inngest.TriggerEvent(event="flow/singleton-skip"),
)
async def singleton_skip(ctx: inngest.Context) -> dict[str, object]:
    return await _nap_between_steps(ctx, "singleton-skip")


# Singleton cancel: a new run cancels the active run of its event.data.key.
@client.create_function(
    fn_id="singleton-cancel",
    singleton=inngest.Singleton(mode="cancel", key="event.data.key"),
    trigger=inngest.TriggerEvent(event="flow/singleton-cancel"),
)
async def singleton_cancel(ctx: inngest.Context) -> dict[str, object]:
    return await _nap_between_steps(ctx, "singleton-cancel")


# Cancellation by event, with an `if` over the trigger (event) and the cancel event (async).
@client.create_function(
    fn_id="cancel",
    cancel=[
        inngest.Cancel(event="flow/cancel.stop", if_exp="event.data.order == async.data.order")
    ],
    trigger=inngest.TriggerEvent(event="flow/cancel"),
)
async def cancel(ctx: inngest.Context) -> dict[str, object]:
    return await _nap_between_steps(ctx, "cancel")


# timeouts.start: one run at a time; a run still waiting 2 s after it was scheduled is cancelled.
@client.create_function(
    fn_id="timeout-start",
    concurrency=[inngest.Concurrency(limit=1)],
    timeouts=inngest.Timeouts(start=datetime.timedelta(seconds=2)),
    trigger=inngest.TriggerEvent(event="flow/timeout-start"),
)
async def timeout_start(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "timeout-start")
    n = ctx.event.data.get("n")

    async def work() -> str:
        return await hold(ctx, "timeout-start", f"work:{n}")

    await ctx.step.run("work", work)
    return {"n": n}


# timeouts.finish: a run not finished 2 s after it started is cancelled.
@client.create_function(
    fn_id="timeout-finish",
    timeouts=inngest.Timeouts(finish=datetime.timedelta(seconds=2)),
    trigger=inngest.TriggerEvent(event="flow/timeout-finish"),
)
async def timeout_finish(ctx: inngest.Context) -> dict[str, object]:
    return await _nap_between_steps(ctx, "timeout-finish")


# The SDK's serve() takes list[Function[Any]] (Function is invariant in its output type).
FUNCTIONS: list[inngest.Function[Any]] = [
    concurrency,
    throttle,
    rate_limit,
    idempotency,
    debounce,
    batch,
    priority,
    singleton_skip,
    singleton_cancel,
    cancel,
    timeout_start,
    timeout_finish,
]

app = fastapi.FastAPI()
inngest.fast_api.serve(app, client, FUNCTIONS)


@app.get("/e2e/log")
async def log() -> dict[str, object]:
    return {"notes": NOTES}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(app, host=str(args.host), port=int(args.port), log_level="warning")


if __name__ == "__main__":
    main()
