"""The scenario app of ``py_fastapi_app.py``, written with Stepwell's own SDK and served over HTTP.

Started by the end-to-end tests as its own process, exactly as the official-SDK app is::

    INNGEST_DEV=1 INNGEST_BASE_URL=http://127.0.0.1:<server port> \
        python tests/e2e/apps/stepwell_scenarios_app.py --port <app port>

Every function of ``py_fastapi_app.py`` is here with the same app id (``myapp``), function ids,
triggers, step ids and return values, so that the scenario class of ``scenarios.py`` drives it
unchanged. The app is ``stepwell.serve(app)`` routed at ``/api/inngest`` in a Starlette app under
uvicorn: the server syncs it and calls it over HTTP like any Inngest SDK.

It serves the same test endpoints as the official-SDK app: ``GET /e2e/log`` (every function
request and every step body it ran, ``{"notes": [{fn, run_id, what, attempt, t, nonce}]}``) and
``GET /e2e/wire`` (a summary of every POST the server made to the SDK's endpoint, and the SDK's
fetches of run state under ``use_api``). Each summary here also says what the SDK answered,
since that is what our SDK is tested for: ``attempt`` and ``disable_immediate_execution`` of the
request, the ``X-Inngest-No-Retry`` and ``Retry-After`` headers of the answer, and the ops of a
206 (``{op, id, name, opts, data, error}``; a ``data`` over 2000 characters of JSON is left out).

One function exists only here (``OUR_ONLY_FUNCTION_IDS`` in the test module):
``non-retriable-step``, a ``NonRetriableError`` raised inside a step.
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
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import stepwell
from stepwell import Context
from stepwell.sdk.serve.client import ApiClient, CheckpointHttp

APP_ID = "myapp"
SERVE_PATH = "/api/inngest"

if os.environ.get("INNGEST_DEV", "") in ("", "0", "false"):
    raise SystemExit("set INNGEST_DEV=1 (and INNGEST_BASE_URL): this app talks to a dev server")

app = stepwell.App(APP_ID)

NOTES: list[dict[str, object]] = []
REQUESTS: list[dict[str, object]] = []
API_CALLS: list[dict[str, object]] = []
CHECKPOINTS: list[dict[str, object]] = []


def note(ctx: Context, fn: str, what: str = "call") -> None:
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
@app.function("basic", trigger=stepwell.on_event("e2e/basic"))
async def basic(ctx: Context) -> dict[str, object]:
    note(ctx, "basic")
    return {"name": ctx.event.name, "body": "ok", "data": dict(ctx.event.data)}


# 4. Serial steps and a sleep.
@app.function("steps", trigger=stepwell.on_event("e2e/steps"))
async def steps(ctx: Context) -> dict[str, object]:
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
@app.function("retry-step", trigger=stepwell.on_event("e2e/retry-step"))
async def retry_step(ctx: Context) -> dict[str, object]:
    note(ctx, "retry-step")

    async def flaky() -> int:
        note(ctx, "retry-step", "step:flaky")
        if ctx.attempt == 0:
            raise ValueError("flaky on the first attempt")
        return ctx.attempt

    return {"attempt": await ctx.step.run("flaky", flaky)}


# 5. The function itself throws on its first attempt only.
@app.function("retry-fn", trigger=stepwell.on_event("e2e/retry-fn"))
async def retry_fn(ctx: Context) -> dict[str, object]:
    note(ctx, "retry-fn")
    if ctx.attempt == 0:
        raise ValueError("flaky on the first attempt")
    return {"attempt": ctx.attempt}


async def _boom() -> str:
    raise ValueError("boom")


# 6. A step that always throws: 2 attempts, then the uncaught StepError fails the run.
@app.function("exhaust", retries=1, trigger=stepwell.on_event("e2e/exhaust"))
async def exhaust(ctx: Context) -> str:
    note(ctx, "exhaust")

    async def always_fails() -> str:
        note(ctx, "exhaust", "step:always fails")
        return await _boom()

    return _str(await ctx.step.run("always fails", always_fails))


# 7. The same, but the function catches the step's error and recovers.
@app.function("caught", retries=1, trigger=stepwell.on_event("e2e/caught"))
async def caught(ctx: Context) -> dict[str, object]:
    note(ctx, "caught")

    async def always_fails() -> str:
        note(ctx, "caught", "step:always fails")
        return await _boom()

    try:
        await ctx.step.run("always fails", always_fails)
    except stepwell.StepError as err:
        return {"recovered": True, "name": err.error_name, "message": err.error_message}
    return {"recovered": False}


# 8. NonRetriableError at function level: one request, then the run fails.
@app.function("non-retriable", trigger=stepwell.on_event("e2e/non-retriable"))
async def non_retriable(ctx: Context) -> None:
    note(ctx, "non-retriable")
    raise stepwell.NonRetriableError("nope")


# Ours only: NonRetriableError inside a step. The step fails for good at once (StepFailed, as
# in the TS SDK), and the uncaught StepError then fails the run without a retry.
@app.function("non-retriable-step", trigger=stepwell.on_event("e2e/non-retriable-step"))
async def non_retriable_step(ctx: Context) -> str:
    note(ctx, "non-retriable-step")

    async def refuses() -> str:
        note(ctx, "non-retriable-step", "step:refuses")
        raise stepwell.NonRetriableError("step nope")

    return _str(await ctx.step.run("refuses", refuses))


# 9. RetryAfterError: the next attempt comes no sooner than asked.
@app.function("retry-after", trigger=stepwell.on_event("e2e/retry-after"))
async def retry_after(ctx: Context) -> dict[str, object]:
    note(ctx, "retry-after")
    if ctx.attempt == 0:
        raise stepwell.RetryAfterError("later", datetime.timedelta(seconds=3))
    return {"attempt": ctx.attempt}


# 10. on_failure: the handler runs as its own function, myapp-with-handler-failure.
async def handle_failure(ctx: Context) -> dict[str, object]:
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


@app.function(
    "with-handler", on_failure=handle_failure, trigger=stepwell.on_event("e2e/with-handler")
)
async def with_handler(ctx: Context) -> None:
    note(ctx, "with-handler")
    raise stepwell.NonRetriableError("handler please")


# 11. wait_for_event with an `if` expression; the trigger's data.timeout_s sets the timeout.
@app.function("wait", trigger=stepwell.on_event("e2e/wait"))
async def wait(ctx: Context) -> dict[str, object]:
    note(ctx, "wait")
    timeout_s = ctx.event.data.get("timeout_s", 30)
    resumed = await ctx.step.wait_for_event(
        "wait",
        event="e2e/wait.resume",
        if_="async.data.resume == true && async.data.id == event.data.id",
        timeout=datetime.timedelta(seconds=_int(timeout_s)),
    )
    if resumed is None:
        return {"resumed": None}
    return {"resumed": dict(resumed.data), "name": resumed.name}


# 12. Cancellation by event: a run sleeps between two steps.
@app.function(
    "cancellable",
    cancel_on=[
        {
            "event": "e2e/cancellable.cancel",
            "if": "event.data.request_id == async.data.request_id",
        }
    ],
    trigger=stepwell.on_event("e2e/cancellable"),
)
async def cancellable(ctx: Context) -> str:
    note(ctx, "cancellable")

    async def before() -> str:
        note(ctx, "cancellable", "step:before")
        return "before"

    async def after() -> str:
        note(ctx, "cancellable", "step:after")
        return "after"

    await ctx.step.run("before", before)
    await ctx.step.sleep("nap", datetime.timedelta(seconds=5))
    return _str(await ctx.step.run("after", after))


# 13. Parallel steps: asyncio.gather, the SDK reports both as planned.
@app.function("parallel", trigger=stepwell.on_event("e2e/parallel"))
async def parallel(ctx: Context) -> list[int]:
    note(ctx, "parallel")

    async def a() -> int:
        note(ctx, "parallel", "step:a")
        return 1

    async def b() -> int:
        note(ctx, "parallel", "step:b")
        return 2

    results = await asyncio.gather(ctx.step.run("a", a), ctx.step.run("b", b))
    return [_int(result) for result in results]


# 14. Invoke: a child that only the invoke reaches (its trigger is never sent).
@app.function("invoke-child", trigger=stepwell.on_event("e2e/invoke-child.never"))
async def invoke_child(ctx: Context) -> int:
    note(ctx, "invoke-child")
    return _int(ctx.event.data.get("x")) * 42


@app.function("invoker", trigger=stepwell.on_event("e2e/invoker"))
async def invoker(ctx: Context) -> dict[str, object]:
    note(ctx, "invoker")
    result = await ctx.step.invoke(
        "inv",
        function=invoke_child,
        data={"x": ctx.event.data.get("x"), "nonce": ctx.event.data.get("nonce")},
    )
    return {"result": result}


@app.function("invoke-missing", trigger=stepwell.on_event("e2e/invoke-missing"))
async def invoke_missing(ctx: Context) -> dict[str, object]:
    note(ctx, "invoke-missing")
    try:
        # By slug: ours takes the server's function id as it is (no app prefix added).
        await ctx.step.invoke("inv", function=f"{APP_ID}-does-not-exist", data={})
    except stepwell.StepError as err:
        return {"name": err.error_name, "message": err.error_message}
    return {"name": None, "message": None}


@app.function("slow-child", trigger=stepwell.on_event("e2e/slow-child.never"))
async def slow_child(ctx: Context) -> str:
    note(ctx, "slow-child")
    await ctx.step.sleep("slowly", datetime.timedelta(seconds=6))
    return "too late"


@app.function("invoke-timeout", trigger=stepwell.on_event("e2e/invoke-timeout"))
async def invoke_timeout(ctx: Context) -> dict[str, object]:
    note(ctx, "invoke-timeout")
    try:
        await ctx.step.invoke(
            "inv",
            function=slow_child,
            data={"nonce": ctx.event.data.get("nonce")},
            timeout=datetime.timedelta(seconds=2),
        )
    except stepwell.StepError as err:
        return {"name": err.error_name, "message": err.error_message}
    return {"name": None, "message": None}


# 15. send_event step; the sent event triggers sent-receiver.
@app.function("send-event", trigger=stepwell.on_event("e2e/send-event"))
async def send_event(ctx: Context) -> dict[str, object]:
    note(ctx, "send-event")
    ids = await ctx.step.send_event(
        "send",
        stepwell.Event(
            name="e2e/sent",
            data={"from_run": ctx.run_id, "nonce": ctx.event.data.get("nonce")},
        ),
    )
    return {"ids": ids}


@app.function("sent-receiver", trigger=stepwell.on_event("e2e/sent"))
async def sent_receiver(ctx: Context) -> dict[str, object]:
    note(ctx, "sent-receiver")
    return {"got": dict(ctx.event.data)}


# 16. Idempotent event ids: the test sends the same id twice.
@app.function("idem", trigger=stepwell.on_event("e2e/idem"))
async def idem(ctx: Context) -> dict[str, object]:
    note(ctx, "idem")
    return {"id": ctx.event.id}


# 17. Cron, every minute.
@app.function("cron", trigger=stepwell.on_cron("* * * * *"))
async def cron(ctx: Context) -> dict[str, object]:
    note(ctx, "cron")
    return {"name": ctx.event.name, "data": dict(ctx.event.data)}


# 18. Batching: up to 3 events or 5 s.
@app.function(
    "batch",
    batch_events={"max_size": 3, "timeout": "5s"},
    trigger=stepwell.on_event("e2e/batch"),
)
async def batch(ctx: Context) -> dict[str, object]:
    note(ctx, "batch")
    return {
        "count": len(ctx.events),
        "values": [event.data.get("i") for event in ctx.events],
        "first": ctx.event.data.get("i"),
    }


# 18. Debounce: 2 s after the last event, with that event.
@app.function("debounce", debounce={"period": "2s"}, trigger=stepwell.on_event("e2e/debounce"))
async def debounce(ctx: Context) -> dict[str, object]:
    note(ctx, "debounce")
    return {"i": ctx.event.data.get("i"), "events": len(ctx.events)}


# 22. Two branches gathered: the server rediscovers after each parallel step, so the branch of
# two steps goes on while the other branch's slow step still runs; every branch's result is
# returned (as PY's ParallelMode.RACE does).
@app.function("race-branches", trigger=stepwell.on_event("e2e/race-branches"))
async def race_branches(ctx: Context) -> list[str]:
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
        return _str(await ctx.step.run("slow", slow))

    return list(await asyncio.gather(fast_branch(), slow_branch()))


# A step that takes 3.5 s (in the official-SDK app: longer than a stream's keep-alive).
@app.function("slow-step", trigger=stepwell.on_event("e2e/slow-step"))
async def slow_step(ctx: Context) -> dict[str, object]:
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
@app.function("big-state", retries=0, trigger=stepwell.on_event("e2e/big-state"))
async def big_state(ctx: Context) -> dict[str, object]:
    note(ctx, "big-state")
    size = _int(ctx.event.data.get("size"))

    async def blob_a() -> str:
        note(ctx, "big-state", "step:blob a")
        return blob("a", size)

    async def blob_b() -> str:
        note(ctx, "big-state", "step:blob b")
        return blob("b", size)

    a = _str(await ctx.step.run("blob a", blob_a))
    b = _str(await ctx.step.run("blob b", blob_b))
    await ctx.step.sleep("settle", datetime.timedelta(seconds=1))
    return {
        "a": digest(a),
        "b": digest(b),
        "nonce": ctx.event.data.get("nonce"),
        "events": len(ctx.events),
    }


# -- the wire: what the server sent, and what the SDK fetched ------------------------------------


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
        "attempt": None,
        "disable_immediate_execution": None,
        "no_retry": None,
        "retry_after": None,
        "ops": None,
    }
    try:
        body = json.loads(raw)
    except ValueError:
        return entry
    if isinstance(body, dict):
        raw_ctx = body.get("ctx")
        ctx: dict[str, Any] = raw_ctx if isinstance(raw_ctx, dict) else {}
        memos, events = body.get("steps"), body.get("events")
        entry.update(
            run_id=ctx.get("run_id"),
            use_api=body.get("use_api"),
            ctx_use_api=ctx.get("use_api"),
            steps=len(memos) if isinstance(memos, dict) else None,
            events=len(events) if isinstance(events, list) else None,
            attempt=ctx.get("attempt"),
            disable_immediate_execution=ctx.get("disable_immediate_execution"),
        )
    return entry


MAX_RECORDED_DATA = 2000


def _ops(raw: bytes) -> list[dict[str, object]] | None:
    """The ops of a 206 answer, in brief: without step outputs too large to keep around."""
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(body, list):
        return None
    ops: list[dict[str, object]] = []
    for item in body:
        if not isinstance(item, dict):
            continue
        op: dict[str, object] = {
            key: item.get(key) for key in ("op", "id", "name", "opts", "data", "error")
        }
        if len(json.dumps(op["data"])) > MAX_RECORDED_DATA:
            op["data"] = None
        ops.append(op)
    return ops


class WireRecorder:
    """ASGI middleware: records each POST to the SDK's endpoint, passing everything through."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != SERVE_PATH:
            await self.inner(scope, receive, send)
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

        answer: list[bytes] = []

        async def send_recorded(message: Message) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
                headers = {
                    bytes(name).decode("latin-1").lower(): bytes(value).decode("latin-1")
                    for name, value in message.get("headers", [])
                }
                entry["no_retry"] = headers.get("x-inngest-no-retry")
                entry["retry_after"] = headers.get("retry-after")
            elif message["type"] == "http.response.body" and entry["status"] == 206:
                answer.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    entry["ops"] = _ops(b"".join(answer))
            await send(message)

        await self.inner(scope, receive_recorded, send_recorded)


_get_json = ApiClient._get_json


async def _get_json_recorded(self: ApiClient, client: httpx.AsyncClient, path: str) -> Any:
    """The SDK's GETs of run state under use_api (``/v0/runs/<id>/batch`` and ``/actions``)."""
    ok = False
    try:
        result = await _get_json(self, client, path)
        ok = True
        return result
    finally:
        API_CALLS.append({"method": "GET", "path": path, "ok": ok})


ApiClient._get_json = _get_json_recorded  # type: ignore[method-assign]

_checkpoint_steps = ApiClient.checkpoint_steps


async def _checkpoint_steps_recorded(
    self: ApiClient, client: CheckpointHttp, run_id: str, body: bytes
) -> int:
    """The SDK's checkpoints (``POST /v1/checkpoint/<id>/async``): the steps and the answer."""
    status: int | None = None
    try:
        status = await _checkpoint_steps(self, client, run_id, body)
        return status
    finally:
        steps = [[op["op"], op["id"], op.get("data")] for op in json.loads(body)["steps"]]
        CHECKPOINTS.append({"run_id": run_id, "steps": steps, "status": status})


ApiClient.checkpoint_steps = _checkpoint_steps_recorded  # type: ignore[method-assign]


async def log(request: Request) -> JSONResponse:
    return JSONResponse({"notes": NOTES})


async def wire(request: Request) -> JSONResponse:
    return JSONResponse({"requests": REQUESTS, "api_calls": API_CALLS, "checkpoints": CHECKPOINTS})


asgi = WireRecorder(
    Starlette(
        routes=[
            Route(SERVE_PATH, stepwell.serve(app)),
            Route("/e2e/log", log, methods=["GET"]),
            Route("/e2e/wire", wire, methods=["GET"]),
        ]
    )
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(asgi, host=_str(args.host), port=_int(args.port), log_level="info")


if __name__ == "__main__":
    main()
