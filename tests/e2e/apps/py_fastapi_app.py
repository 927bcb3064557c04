"""An app on the official Inngest Python SDK (``inngest`` 0.5.19), served by FastAPI under uvicorn.

Started by the end-to-end tests as its own process::

    INNGEST_DEV=1 INNGEST_BASE_URL=http://127.0.0.1:<server port> \
        python tests/e2e/apps/py_fastapi_app.py --port <app port>

It holds one function per conformance scenario of protocol.md §10 (app id ``myapp``, served at
``/api/inngest``). Function ids, trigger names and return values are the same as in the
TypeScript app (``apps/ts/app.mjs``), so both are checked by the same tests.

Besides the SDK's endpoint the app serves ``GET /e2e/log``: every function request and every
step body it executed, in order (``{"notes": [{fn, run_id, what, attempt, t, nonce}]}``). The
tests read it to see what the server made the SDK do: how many attempts, which step bodies ran
and when.

And ``GET /e2e/wire``: what went over the wire, in order. ``requests`` summarises every POST the
server made to the SDK's endpoint (``{fn_id, step_id, run_id, use_api, ctx_use_api, steps,
events, status}``: the request's use_api flags, how many memos and events it carried, and the
status the SDK answered with, 201 when it streams); ``api_calls`` lists the SDK's fetches of run
state under use_api (``{method, path, ok}``).

With ``INNGEST_STREAMING=force`` in its environment the SDK answers every call with a 201 stream
(protocol.md §5.10): the tests start a second app that way.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import fastapi
import inngest
import inngest.fast_api
import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

APP_ID = "myapp"
SERVE_PATH = "/api/inngest"

if os.environ.get("INNGEST_DEV", "") in ("", "0", "false"):
    raise SystemExit("set INNGEST_DEV=1 (and INNGEST_BASE_URL): this app talks to a dev server")

client = inngest.Inngest(app_id=APP_ID)

Note = dict[str, object]
NOTES: list[Note] = []
REQUESTS: list[dict[str, object]] = []
API_CALLS: list[dict[str, object]] = []


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


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {value!r}")
    return value


def _int(value: object) -> int:
    if not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _number(value: object) -> float:
    if not isinstance(value, int | float):
        raise TypeError(f"expected a number, got {value!r}")
    return float(value)


# 3. Basic invoke: no steps, the return value is the run's output.
@client.create_function(fn_id="basic", trigger=inngest.TriggerEvent(event="e2e/basic"))
async def basic(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "basic")
    return {"name": ctx.event.name, "body": "ok", "data": dict(ctx.event.data)}


# 4. Serial steps and a sleep.
@client.create_function(fn_id="steps", trigger=inngest.TriggerEvent(event="e2e/steps"))
async def steps(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "steps")

    async def first() -> str:
        note(ctx, "steps", "step:first step")
        return "first step"

    async def second() -> str:
        note(ctx, "steps", "step:second step")
        return "second step"

    one = await ctx.step.run("first step", first)
    await ctx.step.sleep("sleep", datetime.timedelta(seconds=2))
    two = await ctx.step.run("second step", second)
    return {"first": one, "second": two}


# 5. A step that throws on its first attempt only.
@client.create_function(fn_id="retry-step", trigger=inngest.TriggerEvent(event="e2e/retry-step"))
async def retry_step(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "retry-step")

    async def flaky() -> int:
        note(ctx, "retry-step", "step:flaky")
        if ctx.attempt == 0:
            raise ValueError("flaky on the first attempt")
        return ctx.attempt

    return {"attempt": await ctx.step.run("flaky", flaky)}


# 5. The function itself throws on its first attempt only.
@client.create_function(fn_id="retry-fn", trigger=inngest.TriggerEvent(event="e2e/retry-fn"))
async def retry_fn(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "retry-fn")
    if ctx.attempt == 0:
        raise ValueError("flaky on the first attempt")
    return {"attempt": ctx.attempt}


async def _boom() -> str:
    raise ValueError("boom")


# 6. A step that always throws: 2 attempts, then the uncaught StepError fails the run.
@client.create_function(
    fn_id="exhaust", retries=1, trigger=inngest.TriggerEvent(event="e2e/exhaust")
)
async def exhaust(ctx: inngest.Context) -> str:
    note(ctx, "exhaust")

    async def always_fails() -> str:
        note(ctx, "exhaust", "step:always fails")
        return await _boom()

    return await ctx.step.run("always fails", always_fails)


# 7. The same, but the function catches the step's error and recovers.
@client.create_function(fn_id="caught", retries=1, trigger=inngest.TriggerEvent(event="e2e/caught"))
async def caught(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "caught")

    async def always_fails() -> str:
        note(ctx, "caught", "step:always fails")
        return await _boom()

    try:
        await ctx.step.run("always fails", always_fails)
    except inngest.StepError as err:
        return {"recovered": True, "name": err.name, "message": err.message}
    return {"recovered": False}


# 8. NonRetriableError at function level: one request, then the run fails.
@client.create_function(
    fn_id="non-retriable", trigger=inngest.TriggerEvent(event="e2e/non-retriable")
)
async def non_retriable(ctx: inngest.Context) -> None:
    note(ctx, "non-retriable")
    raise inngest.NonRetriableError("nope")


# 9. RetryAfterError: the next attempt comes no sooner than asked.
@client.create_function(fn_id="retry-after", trigger=inngest.TriggerEvent(event="e2e/retry-after"))
async def retry_after(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "retry-after")
    if ctx.attempt == 0:
        raise inngest.RetryAfterError("later", datetime.timedelta(seconds=3))
    return {"attempt": ctx.attempt}


# 10. onFailure: the handler runs as its own function, myapp-with-handler-failure.
async def handle_failure(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "with-handler-failure")
    data = ctx.event.data
    error = data.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return {
        "event": ctx.event.name,
        "function_id": data.get("function_id"),
        "run_id": data.get("run_id"),
        "message": message,
    }


@client.create_function(
    fn_id="with-handler",
    on_failure=handle_failure,
    trigger=inngest.TriggerEvent(event="e2e/with-handler"),
)
async def with_handler(ctx: inngest.Context) -> None:
    note(ctx, "with-handler")
    raise inngest.NonRetriableError("handler please")


# 11. waitForEvent with an `if` expression; the trigger's data.timeout_s sets the timeout.
@client.create_function(fn_id="wait", trigger=inngest.TriggerEvent(event="e2e/wait"))
async def wait(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "wait")
    timeout_s = ctx.event.data.get("timeout_s", 30)
    resumed = await ctx.step.wait_for_event(
        "wait",
        event="e2e/wait.resume",
        if_exp="async.data.resume == true && async.data.id == event.data.id",
        timeout=datetime.timedelta(seconds=_int(timeout_s)),
    )
    if resumed is None:
        return {"resumed": None}
    return {"resumed": dict(resumed.data), "name": resumed.name}


# 12. Cancellation by event: a run sleeps between two steps.
@client.create_function(
    fn_id="cancellable",
    cancel=[
        inngest.Cancel(
            event="e2e/cancellable.cancel",
            if_exp="event.data.request_id == async.data.request_id",
        )
    ],
    trigger=inngest.TriggerEvent(event="e2e/cancellable"),
)
async def cancellable(ctx: inngest.Context) -> str:
    note(ctx, "cancellable")

    async def before() -> str:
        note(ctx, "cancellable", "step:before")
        return "before"

    async def after() -> str:
        note(ctx, "cancellable", "step:after")
        return "after"

    await ctx.step.run("before", before)
    await ctx.step.sleep("nap", datetime.timedelta(seconds=5))
    return await ctx.step.run("after", after)


# 13. Parallel steps.
@client.create_function(fn_id="parallel", trigger=inngest.TriggerEvent(event="e2e/parallel"))
async def parallel(ctx: inngest.Context) -> list[int]:
    note(ctx, "parallel")

    async def a() -> int:
        note(ctx, "parallel", "step:a")
        return 1

    async def b() -> int:
        note(ctx, "parallel", "step:b")
        return 2

    results = await ctx.group.parallel((lambda: ctx.step.run("a", a), lambda: ctx.step.run("b", b)))
    return list(results)


# 14. Invoke: a child that only the invoke reaches (its trigger is never sent).
@client.create_function(
    fn_id="invoke-child", trigger=inngest.TriggerEvent(event="e2e/invoke-child.never")
)
async def invoke_child(ctx: inngest.Context) -> int:
    note(ctx, "invoke-child")
    return _int(ctx.event.data.get("x")) * 42


@client.create_function(fn_id="invoker", trigger=inngest.TriggerEvent(event="e2e/invoker"))
async def invoker(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "invoker")
    result = await ctx.step.invoke(
        "inv",
        function=invoke_child,
        data={"x": ctx.event.data.get("x"), "nonce": ctx.event.data.get("nonce")},
    )
    return {"result": result}


@client.create_function(
    fn_id="invoke-missing", trigger=inngest.TriggerEvent(event="e2e/invoke-missing")
)
async def invoke_missing(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "invoke-missing")
    try:
        await ctx.step.invoke_by_id("inv", function_id="does-not-exist", data={})
    except inngest.StepError as err:
        return {"name": err.name, "message": err.message}
    return {"name": None, "message": None}


@client.create_function(
    fn_id="slow-child", trigger=inngest.TriggerEvent(event="e2e/slow-child.never")
)
async def slow_child(ctx: inngest.Context) -> str:
    note(ctx, "slow-child")
    await ctx.step.sleep("slowly", datetime.timedelta(seconds=6))
    return "too late"


@client.create_function(
    fn_id="invoke-timeout", trigger=inngest.TriggerEvent(event="e2e/invoke-timeout")
)
async def invoke_timeout(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "invoke-timeout")
    try:
        await ctx.step.invoke(
            "inv",
            function=slow_child,
            data={"nonce": ctx.event.data.get("nonce")},
            timeout=datetime.timedelta(seconds=2),
        )
    except inngest.StepError as err:
        return {"name": err.name, "message": err.message}
    return {"name": None, "message": None}


# 15. sendEvent step; the sent event triggers sent-receiver.
@client.create_function(fn_id="send-event", trigger=inngest.TriggerEvent(event="e2e/send-event"))
async def send_event(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "send-event")
    ids = await ctx.step.send_event(
        "send",
        inngest.Event(
            name="e2e/sent",
            data={"from_run": ctx.run_id, "nonce": ctx.event.data.get("nonce")},
        ),
    )
    return {"ids": ids}


@client.create_function(fn_id="sent-receiver", trigger=inngest.TriggerEvent(event="e2e/sent"))
async def sent_receiver(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "sent-receiver")
    return {"got": dict(ctx.event.data)}


# 16. Idempotent event ids: the test sends the same id twice.
@client.create_function(fn_id="idem", trigger=inngest.TriggerEvent(event="e2e/idem"))
async def idem(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "idem")
    return {"id": ctx.event.id}


# 17. Cron, every minute.
@client.create_function(fn_id="cron", trigger=inngest.TriggerCron(cron="* * * * *"))
async def cron(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "cron")
    return {"name": ctx.event.name, "data": dict(ctx.event.data)}


# 18. Batching: up to 3 events or 5 s.
@client.create_function(
    fn_id="batch",
    batch_events=inngest.Batch(max_size=3, timeout=datetime.timedelta(seconds=5)),
    trigger=inngest.TriggerEvent(event="e2e/batch"),
)
async def batch(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "batch")
    return {
        "count": len(ctx.events),
        "values": [event.data.get("i") for event in ctx.events],
        "first": ctx.event.data.get("i"),
    }


# 18. Debounce: 2 s after the last event, with that event.
@client.create_function(
    fn_id="debounce",
    debounce=inngest.Debounce(period=datetime.timedelta(seconds=2)),
    trigger=inngest.TriggerEvent(event="e2e/debounce"),
)
async def debounce(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "debounce")
    return {"i": ctx.event.data.get("i"), "events": len(ctx.events)}


# 22. A race (ParallelMode.RACE): the server rediscovers after each parallel step, so a branch
# of two steps goes on while the other branch's slow step still runs. PY's group.parallel
# returns every branch's result (there is no "first result wins" in 0.5.19).
@client.create_function(
    fn_id="race-branches", trigger=inngest.TriggerEvent(event="e2e/race-branches")
)
async def race_branches(ctx: inngest.Context) -> list[str]:
    note(ctx, "race-branches")
    slow_s = _number(ctx.event.data.get("slow_s", 2.0))

    async def fast() -> str:
        note(ctx, "race-branches", "step:fast")
        return "fast"

    async def fast_2() -> str:
        note(ctx, "race-branches", "step:fast-2")
        return "fast-2"

    async def slow() -> str:
        note(ctx, "race-branches", "step:slow:start")
        await asyncio.sleep(slow_s)
        note(ctx, "race-branches", "step:slow")
        return "slow"

    async def fast_branch() -> str:
        one = await ctx.step.run("fast", fast)
        two = await ctx.step.run("fast-2", fast_2)
        return f"{one}+{two}"

    async def slow_branch() -> str:
        return await ctx.step.run("slow", slow)

    results = await ctx.group.parallel(
        (fast_branch, slow_branch), parallel_mode=inngest.ParallelMode.RACE
    )
    return list(results)


# A step that outlasts the SDK's 3 s keep-alive interval when it streams.
@client.create_function(fn_id="slow-step", trigger=inngest.TriggerEvent(event="e2e/slow-step"))
async def slow_step(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "slow-step")

    async def slow() -> str:
        note(ctx, "slow-step", "step:slow")
        await asyncio.sleep(3.5)
        return "slow"

    return {"slow": await ctx.step.run("slow", slow)}


def blob(seed: str, size: int) -> str:
    """``size`` characters repeating ``f"{seed}0123456789"``: too big to send twice."""
    unit = f"{seed}0123456789"
    return (unit * math.ceil(size / len(unit)))[:size]


def digest(text: str) -> dict[str, object]:
    return {"length": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}


# 23. Run state over 4 MiB: two ~3 MB step results, then a sleep, so that the next request
# has to be sent with `steps: {}` and `use_api: true` (the SDK fetches the memos itself).
@client.create_function(
    fn_id="big-state", retries=0, trigger=inngest.TriggerEvent(event="e2e/big-state")
)
async def big_state(ctx: inngest.Context) -> dict[str, object]:
    note(ctx, "big-state")
    size = _int(ctx.event.data.get("size"))

    async def blob_a() -> str:
        note(ctx, "big-state", "step:blob a")
        return blob("a", size)

    async def blob_b() -> str:
        note(ctx, "big-state", "step:blob b")
        return blob("b", size)

    a = await ctx.step.run("blob a", blob_a)
    b = await ctx.step.run("blob b", blob_b)
    await ctx.step.sleep("settle", datetime.timedelta(seconds=1))
    return {
        "a": digest(a),
        "b": digest(b),
        "nonce": ctx.event.data.get("nonce"),
        "events": len(ctx.events),
    }


# The SDK's serve() takes list[Function[Any]] (Function is invariant in its output type).
FUNCTIONS: list[inngest.Function[Any]] = [
    basic,
    steps,
    retry_step,
    retry_fn,
    exhaust,
    caught,
    non_retriable,
    retry_after,
    with_handler,
    wait,
    cancellable,
    parallel,
    invoke_child,
    invoker,
    invoke_missing,
    slow_child,
    invoke_timeout,
    send_event,
    sent_receiver,
    idem,
    cron,
    batch,
    debounce,
    race_branches,
    slow_step,
    big_state,
]


def _summarise(query: str, raw: bytes) -> dict[str, object]:
    """What a call from the server carried, in brief (for ``GET /e2e/wire``)."""
    params = dict(part.partition("=")[::2] for part in query.split("&") if part)
    entry: dict[str, object] = {
        "fn_id": params.get("fnId"),
        "step_id": params.get("stepId"),
        "run_id": None,
        "use_api": None,
        "ctx_use_api": None,
        "steps": None,
        "events": None,
        "status": None,
    }
    try:
        body = json.loads(raw)
    except ValueError:
        return entry
    if isinstance(body, dict):
        raw_ctx = body.get("ctx")
        ctx: dict[str, Any] = raw_ctx if isinstance(raw_ctx, dict) else {}
        steps, events = body.get("steps"), body.get("events")
        entry.update(
            run_id=ctx.get("run_id"),
            use_api=body.get("use_api"),
            ctx_use_api=ctx.get("use_api"),
            steps=len(steps) if isinstance(steps, dict) else None,
            events=len(events) if isinstance(events, list) else None,
        )
    return entry


class WireRecorder:
    """ASGI middleware: records each POST to the SDK's endpoint, passing everything through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != SERVE_PATH:
            await self.app(scope, receive, send)
            return
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        entry: dict[str, object] = _summarise(query, b"")
        REQUESTS.append(entry)
        chunks: list[bytes] = []

        async def receive_recorded() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    entry.update(_summarise(query, b"".join(chunks)))
            return message

        async def send_recorded(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        await self.app(scope, receive_recorded, send_recorded)


StateFetch = Callable[[str], Awaitable[object]]


def _record_state_fetch(method_name: str, what: str) -> None:
    """Record the SDK's use_api fetches (its client's ``_get_batch``/``_get_steps``)."""
    original: StateFetch = getattr(client, method_name)

    async def recorded(run_id: str) -> object:
        result = await original(run_id)
        API_CALLS.append(
            {
                "method": "GET",
                "path": f"/v0/runs/{run_id}/{what}",
                "ok": not isinstance(result, Exception),
            }
        )
        return result

    setattr(client, method_name, recorded)


_record_state_fetch("_get_batch", "batch")
_record_state_fetch("_get_steps", "actions")

app = fastapi.FastAPI()
inngest.fast_api.serve(app, client, FUNCTIONS)
app.add_middleware(WireRecorder)


@app.get("/e2e/log")
async def log() -> dict[str, object]:
    return {"notes": NOTES}


@app.get("/e2e/wire")
async def wire() -> dict[str, object]:
    return {"requests": REQUESTS, "api_calls": API_CALLS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(app, host=_str(args.host), port=_int(args.port), log_level="info")


if __name__ == "__main__":
    main()
