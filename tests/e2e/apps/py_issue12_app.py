"""An app on the official Inngest Python SDK (``inngest`` 0.5.19) for the behaviours of issue 12.

Served by FastAPI under uvicorn (async functions) or by Flask (sync functions, the Flask way)::

    INNGEST_DEV=1 INNGEST_BASE_URL=http://127.0.0.1:<server port> \
        python tests/e2e/apps/py_issue12_app.py --framework fastapi|flask --port <app port>

Both frameworks serve the same four functions (app id ``myapp``, at ``/api/inngest``):

* ``nondeterministic`` (no retries) plans three parallel steps on its first call and only two
  after that, then runs ``after``: when the server targets the third step, the SDK meets
  ``after`` instead and answers ``step_unexpected`` (as inngest-py's own test of this does).
* ``fails`` raises ``MyError`` with no retries; its ``on_failure`` handler returns the
  ``inngest/function.failed`` event's ``data.error`` as it received it.
* ``big-batch`` takes batches of up to eight events and says how many it got and how big.
* ``caught-then-raise`` catches its step's final error, then raises at function level.

``GET /e2e/log`` lists every call and step body (``{"notes": [{fn, run_id, what, attempt, t,
nonce}]}``), as the other e2e apps do, and the SDK's fetches of a batch through the API (fn
``api``).
"""

from __future__ import annotations

import argparse
import datetime
import logging
import os
import threading
import time
from typing import Any

import inngest

APP_ID = "myapp"

if os.environ.get("INNGEST_DEV", "") in ("", "0", "false"):
    raise SystemExit("set INNGEST_DEV=1 (and INNGEST_BASE_URL): this app talks to a dev server")

client = inngest.Inngest(app_id=APP_ID)

NOTES: list[dict[str, object]] = []
REQUESTS: dict[str, int] = {}  # calls of ``nondeterministic`` so far, by run
LOCK = threading.Lock()


class MyError(Exception):
    """The error the failing functions raise."""


def note(ctx: inngest.Context | inngest.ContextSync, fn: str, what: str = "call") -> None:
    data = ctx.event.data
    trigger = data.get("event")  # a failure handler's: the failed run's event
    if isinstance(trigger, dict) and isinstance(trigger.get("data"), dict):
        data = trigger["data"]
    nonce = data.get("nonce")
    with LOCK:
        NOTES.append(
            {
                "fn": fn,
                "run_id": ctx.run_id,
                "what": what,
                "attempt": ctx.attempt,
                "t": time.time(),  # noqa: SW101 (a test probe, not workflow logic)
                "nonce": nonce if isinstance(nonce, str) else None,
            }
        )


def first_request(run_id: str) -> bool:
    """True on a run's first call only: the function then plans a third parallel step."""
    with LOCK:
        REQUESTS[run_id] = REQUESTS.get(run_id, 0) + 1
        return REQUESTS[run_id] == 1


def failure_seen(ctx: inngest.Context | inngest.ContextSync) -> dict[str, object]:
    data = ctx.event.data
    return {
        "event": ctx.event.name,
        "function_id": data.get("function_id"),
        "error": data.get("error"),
    }


def batch_summary(ctx: inngest.Context | inngest.ContextSync) -> dict[str, object]:
    blobs = [event.data.get("blob") for event in ctx.events]
    return {
        "count": len(ctx.events),
        "sizes": [len(blob) if isinstance(blob, str) else None for blob in blobs],
    }


def _record_batch_fetches() -> None:
    """Note the SDK's fetches of a run's events through the API (use_api, protocol.md §5.9)."""
    fetch = client._get_batch
    fetch_sync = client._get_batch_sync

    def record(run_id: str, result: object) -> None:
        count = len(result) if isinstance(result, list) else None
        with LOCK:
            NOTES.append(
                {
                    "fn": "api",
                    "run_id": run_id,
                    "what": f"GET /v0/runs/{run_id}/batch: {count} events",
                    "attempt": 0,
                    "t": time.time(),
                    "nonce": None,
                }
            )

    async def recorded(run_id: str) -> object:
        result = await fetch(run_id)
        record(run_id, result)
        return result

    def recorded_sync(run_id: str) -> object:
        result = fetch_sync(run_id)
        record(run_id, result)
        return result

    replacements: dict[str, object] = {"_get_batch": recorded, "_get_batch_sync": recorded_sync}
    for name, replacement in replacements.items():
        setattr(client, name, replacement)


_record_batch_fetches()

BATCH = inngest.Batch(max_size=8, timeout=datetime.timedelta(seconds=5))


def async_functions() -> list[inngest.Function[Any]]:
    async def failure_handler(ctx: inngest.Context) -> dict[str, object]:
        note(ctx, "fails-failure")
        return failure_seen(ctx)

    @client.create_function(
        fn_id="nondeterministic", retries=0, trigger=inngest.TriggerEvent(event="e2e/nondet")
    )
    async def nondeterministic(ctx: inngest.Context) -> str:
        note(ctx, "nondeterministic")

        async def step(name: str) -> str:
            note(ctx, "nondeterministic", f"step:{name}")
            return name

        steps = [lambda: ctx.step.run("1a", step, "1a"), lambda: ctx.step.run("1b", step, "1b")]
        if first_request(ctx.run_id):
            steps.append(lambda: ctx.step.run("1c", step, "1c"))
        await ctx.group.parallel(tuple(steps))
        return await ctx.step.run("after", step, "after")

    @client.create_function(
        fn_id="fails",
        retries=0,
        on_failure=failure_handler,
        trigger=inngest.TriggerEvent(event="e2e/fails"),
    )
    async def fails(ctx: inngest.Context) -> None:
        note(ctx, "fails")
        raise MyError("intentional failure")

    @client.create_function(
        fn_id="big-batch", batch_events=BATCH, trigger=inngest.TriggerEvent(event="e2e/big")
    )
    async def big_batch(ctx: inngest.Context) -> dict[str, object]:
        note(ctx, "big-batch")
        return batch_summary(ctx)

    @client.create_function(
        fn_id="caught-then-raise", retries=1, trigger=inngest.TriggerEvent(event="e2e/catch-raise")
    )
    async def caught_then_raise(ctx: inngest.Context) -> None:
        note(ctx, "caught-then-raise")

        async def always_fails() -> str:
            note(ctx, "caught-then-raise", "step:always fails")
            raise ValueError("boom")

        try:
            await ctx.step.run("always fails", always_fails)
        except inngest.StepError:
            note(ctx, "caught-then-raise", "raise")
            raise MyError("raised after catching the step's error") from None

    return [nondeterministic, fails, big_batch, caught_then_raise]


def sync_functions() -> list[inngest.Function[Any]]:
    def failure_handler(ctx: inngest.ContextSync) -> dict[str, object]:
        note(ctx, "fails-failure")
        return failure_seen(ctx)

    @client.create_function(
        fn_id="nondeterministic", retries=0, trigger=inngest.TriggerEvent(event="e2e/nondet")
    )
    def nondeterministic(ctx: inngest.ContextSync) -> str:
        note(ctx, "nondeterministic")

        def step(name: str) -> str:
            note(ctx, "nondeterministic", f"step:{name}")
            return name

        steps = [lambda: ctx.step.run("1a", step, "1a"), lambda: ctx.step.run("1b", step, "1b")]
        if first_request(ctx.run_id):
            steps.append(lambda: ctx.step.run("1c", step, "1c"))
        ctx.group.parallel(tuple(steps))
        return ctx.step.run("after", step, "after")

    @client.create_function(
        fn_id="fails",
        retries=0,
        on_failure=failure_handler,
        trigger=inngest.TriggerEvent(event="e2e/fails"),
    )
    def fails(ctx: inngest.ContextSync) -> None:
        note(ctx, "fails")
        raise MyError("intentional failure")

    @client.create_function(
        fn_id="big-batch", batch_events=BATCH, trigger=inngest.TriggerEvent(event="e2e/big")
    )
    def big_batch(ctx: inngest.ContextSync) -> dict[str, object]:
        note(ctx, "big-batch")
        return batch_summary(ctx)

    @client.create_function(
        fn_id="caught-then-raise", retries=1, trigger=inngest.TriggerEvent(event="e2e/catch-raise")
    )
    def caught_then_raise(ctx: inngest.ContextSync) -> None:
        note(ctx, "caught-then-raise")

        def always_fails() -> str:
            note(ctx, "caught-then-raise", "step:always fails")
            raise ValueError("boom")

        try:
            ctx.step.run("always fails", always_fails)
        except inngest.StepError:
            note(ctx, "caught-then-raise", "raise")
            raise MyError("raised after catching the step's error") from None

    return [nondeterministic, fails, big_batch, caught_then_raise]


def serve_fastapi(host: str, port: int) -> None:
    import fastapi
    import inngest.fast_api
    import uvicorn

    app = fastapi.FastAPI()
    inngest.fast_api.serve(app, client, async_functions())

    @app.get("/e2e/log")
    async def log() -> dict[str, object]:
        return {"notes": NOTES}

    uvicorn.run(app, host=host, port=port, log_level="info")


def serve_flask(host: str, port: int) -> None:
    import flask
    import inngest.flask

    app = flask.Flask(__name__)
    inngest.flask.serve(app, client, sync_functions())

    @app.get("/e2e/log")
    def log() -> dict[str, object]:
        with LOCK:
            return {"notes": list(NOTES)}

    app.run(host=host, port=port, threaded=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--framework", choices=("fastapi", "flask"), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.framework == "fastapi":
        serve_fastapi(args.host, args.port)
    else:
        serve_flask(args.host, args.port)


if __name__ == "__main__":
    main()
