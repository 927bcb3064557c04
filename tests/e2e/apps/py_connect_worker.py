"""A worker on the official Inngest Python SDK's Connect (``inngest.connect``, 0.5.19).

It serves no HTTP: it asks the server's ``/v0/connect/start`` for a gateway and opens a
WebSocket to it. Started by the end-to-end tests as its own process::

    INNGEST_DEV=1 INNGEST_BASE_URL=http://127.0.0.1:<server port> WORKER_NAME=a \
        NOTES_PATH=/tmp/notes.jsonl python tests/e2e/apps/py_connect_worker.py

Every step body appends a line to ``NOTES_PATH`` (``{worker, fn, run_id, what, t, attempt}``),
so the tests see which worker ran what, and when. The worker heartbeats every second (the SDK's
test override; 10 s otherwise). SIGTERM and SIGINT drain and close it (the SDK's own handlers);
SIGUSR1 calls ``close()`` on the connection, as an application would.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
from typing import Any

import inngest
from inngest.connect import connect
from inngest.connect._internal.connect import connect_test_overrides

APP_ID = "connapp"
NAME = os.environ.get("WORKER_NAME", "worker")
NOTES_PATH = os.environ["NOTES_PATH"]
_lock = threading.Lock()

client = inngest.Inngest(app_id=APP_ID)


def note(fn: str, run_id: str, what: str, attempt: int = 0) -> None:
    line = {"worker": NAME, "fn": fn, "run_id": run_id, "what": what, "t": time.time()}
    line["attempt"] = attempt
    with _lock, open(NOTES_PATH, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def _seconds(ctx: inngest.Context | inngest.ContextSync, default: float) -> float:
    value = ctx.event.data.get("seconds", default)
    return float(value) if isinstance(value, int | float) else default


@client.create_function(fn_id="hello", trigger=inngest.TriggerEvent(event="conn/hello"))
async def hello(ctx: inngest.Context) -> dict[str, Any]:
    async def greet() -> str:
        note("hello", ctx.run_id, "greet", ctx.attempt)
        return f"hello {ctx.event.data.get('name')}"

    greeting = await ctx.step.run("greet", greet)
    return {"greeting": greeting, "worker": NAME}


@client.create_function(fn_id="sync-nap", trigger=inngest.TriggerEvent(event="conn/sync-nap"))
def sync_nap(ctx: inngest.ContextSync) -> dict[str, Any]:
    """A sync function: the SDK runs it in its thread pool, several at once."""

    def nap() -> dict[str, float]:
        start = time.time()
        note("sync-nap", ctx.run_id, "nap", ctx.attempt)
        time.sleep(_seconds(ctx, 1.0))
        return {"start": start, "end": time.time()}

    span = ctx.step.run("nap", nap)
    return {**span, "worker": NAME}


@client.create_function(fn_id="slow", trigger=inngest.TriggerEvent(event="conn/slow"), retries=0)
async def slow(ctx: inngest.Context) -> dict[str, Any]:
    """A long step (longer than the server's lease), then a short one."""

    async def long() -> str:
        note("slow", ctx.run_id, "long:start", ctx.attempt)
        gate = ctx.event.data.get("gate")
        if isinstance(gate, str):
            # Held until the test opens the gate (a file): a step that lasts exactly as long as
            # the test needs, however slow the machine, rather than a guessed number of seconds.
            deadline = time.monotonic() + 120
            while not os.path.exists(gate) and time.monotonic() < deadline:  # noqa: ASYNC110, ASYNC240 (set by another process)
                await asyncio.sleep(0.05)
        else:
            await asyncio.sleep(_seconds(ctx, 5.0))
        note("slow", ctx.run_id, "long:end", ctx.attempt)
        return NAME

    async def after() -> str:
        note("slow", ctx.run_id, "after", ctx.attempt)
        return NAME

    first = await ctx.step.run("long", long)
    second = await ctx.step.run("after", after)
    return {"long": first, "after": second}


@client.create_function(fn_id="block", trigger=inngest.TriggerEvent(event="conn/block"), retries=0)
async def block(ctx: inngest.Context) -> dict[str, Any]:
    """Blocks the main thread's event loop (time.sleep in async code): the SDK's Connect
    thread must go on heartbeating and extending the lease meanwhile."""

    async def stall() -> str:
        note("block", ctx.run_id, "stall:start", ctx.attempt)
        time.sleep(_seconds(ctx, 6.0))  # noqa: ASYNC251 - blocking on purpose
        note("block", ctx.run_id, "stall:end", ctx.attempt)
        return NAME

    return {"stalled": await ctx.step.run("stall", stall)}


async def main() -> None:
    with connect_test_overrides(heartbeat_interval_sec=1):
        conn = connect([(client, [hello, sync_nap, slow, block])], instance_id=NAME)
    loop = asyncio.get_running_loop()
    closing: set[asyncio.Task[None]] = set()

    def close() -> None:
        closing.add(asyncio.ensure_future(conn.close()))

    loop.add_signal_handler(signal.SIGUSR1, close)
    print(f"worker {NAME} connecting", flush=True)
    await conn.start()
    print(f"worker {NAME} closed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
