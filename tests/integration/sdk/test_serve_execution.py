"""POST on a served app (protocol.md §5): each answer the server can get, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

import stepwell
from stepwell import Context, SyncContext
from stepwell.protocol.durations import parse_instant
from stepwell.protocol.step_ids import hash_step_id as h
from tests.integration.sdk.serving import EVENT, Executor, FakeInngest, client_for, serving


@asynccontextmanager
async def _served(
    app: stepwell.App, api: str = "127.0.0.1:1"
) -> AsyncIterator[Callable[[str], Executor]]:
    async with client_for(stepwell.serve(app, is_dev=True, base_url=api)) as (url, client):
        yield lambda fn: Executor(client, f"{url}/api/inngest", f"{app.id}-{fn}")


async def test_a_finished_function_answers_200_with_its_raw_value() -> None:
    app = stepwell.App("myapp")

    @app.function("simple", trigger=stepwell.on_event("test/go"))
    async def simple(ctx: Context) -> dict[str, Any]:
        return {"name": ctx.event.name, "x": ctx.event.data["x"], "run": ctx.run_id}

    @app.function("none", trigger=stepwell.on_event("test/go"))
    def none(ctx: SyncContext) -> None:
        return None

    async with _served(app) as fn:
        returned = await fn("simple").call()
        nothing = await fn("none").call()
    assert returned.status_code == 200
    assert returned.json() == {"name": "test/go", "x": 1, "run": "01RUN"}
    assert returned.headers["x-inngest-sdk"] == "stepwell-py:v0.1.0"
    assert returned.headers["x-inngest-req-version"] == "2"
    assert nothing.status_code == 200
    assert nothing.content == b"null"


async def test_serial_steps_and_sleep_report_one_op_per_call_and_replay_the_memo() -> None:
    app = stepwell.App("myapp")
    bodies: list[str] = []

    def body(name: str) -> str:
        bodies.append(name)
        return name

    @app.function("steps", trigger=stepwell.on_event("test/go"))
    async def steps(ctx: Context) -> list[str]:
        first = await ctx.step.run("first step", body, "first step")
        await ctx.step.sleep("sleep", "2s")
        second = await ctx.step.run("second step", body, "second step")
        return [first, second]

    first, sleep, second = h("first step"), h("sleep"), h("second step")
    assert first == "98bf98df193bcce7c33e6bc50927cf2ac21206cb"  # protocol.md §10
    async with _served(app) as fn:
        executor = fn("steps")
        d1 = await executor.call()
        d2 = await executor.call({first: {"data": "first step"}})
        d3 = await executor.call({first: {"data": "first step"}, sleep: None})
        d4 = await executor.call(
            {first: {"data": "first step"}, sleep: None, second: {"data": "second step"}}
        )
    assert (d1.status_code, d2.status_code, d3.status_code) == (206, 206, 206)
    assert d1.json() == [
        {
            "op": "StepRun",
            "id": first,
            "name": "first step",
            "displayName": "first step",
            "opts": None,
            "data": "first step",
        }
    ]
    [nap] = d2.json()
    assert nap["op"] == "Sleep"
    assert nap["id"] == sleep
    assert nap["opts"] == {"duration": "2s"}
    assert (nap["name"], nap["displayName"]) == ("2s", "sleep")
    assert [op["op"] for op in d3.json()] == ["StepRun"]
    assert d3.json()[0]["id"] == second
    assert d4.status_code == 200
    assert d4.json() == ["first step", "second step"]
    assert bodies == ["first step", "second step"]  # replays never re-run a body


async def test_sleep_until_wait_for_event_and_invoke_report_their_ops() -> None:
    app = stepwell.App("myapp")
    until = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    seen: list[Any] = []

    @app.function("child")
    async def child(ctx: Context) -> int:
        return 42

    @app.function("ops", trigger=stepwell.on_event("test/go"))
    async def ops(ctx: Context) -> list[Any]:
        await ctx.step.sleep_until("until", until)
        resumed = await ctx.step.wait_for_event(
            "wait", event="test/resume", timeout=timedelta(minutes=1), match="data.x"
        )
        seen.append(resumed.data if resumed else None)
        got = await ctx.step.invoke("inv", function=child, data={"y": 2}, timeout="1h")
        return [got]

    resume_event = {"name": "test/resume", "data": {"x": 1}, "id": "r", "ts": 2, "user": {}}
    async with _served(app) as fn:
        executor = fn("ops")
        memo: dict[str, Any] = {}
        d1 = await executor.call(memo)
        memo[h("until")] = None
        d2 = await executor.call(memo)
        memo[h("wait")] = resume_event  # a matched wait stores the bare event (§5.4)
        d3 = await executor.call(memo)
        memo[h("inv")] = {"data": 42}
        d4 = await executor.call(memo)
    [sleep] = d1.json()
    assert sleep["op"] == "Sleep"
    assert parse_instant(sleep["opts"]["duration"]) == until
    assert sleep["name"] == sleep["opts"]["duration"]  # PY's form: the instant in `name`
    [wait] = d2.json()
    assert wait["op"] == "WaitForEvent"
    assert wait["id"] == h("wait")
    assert wait["name"] == "test/resume"  # the event name goes in `name` (§0.4 #9)
    assert wait["opts"]["timeout"] == "60s"
    assert wait["opts"]["if"] == "event.data.x == async.data.x"
    [invoke] = d3.json()
    assert invoke["op"] == "InvokeFunction"
    assert invoke["opts"] == {
        "function_id": "myapp-child",
        "payload": {"data": {"y": 2}},
        "timeout": "3600s",
    }
    assert d4.status_code == 200
    assert d4.json() == [42]
    assert seen[-1] == {"x": 1}


async def test_send_event_posts_to_the_event_api_and_reports_the_ids(
    fake_api: tuple[FakeInngest, str],
) -> None:
    fake, api = fake_api
    app = stepwell.App("myapp")

    @app.function("send", trigger=stepwell.on_event("test/go"))
    async def send(ctx: Context) -> list[str]:
        return await ctx.step.send_event(
            "send", [stepwell.Event(name="x/y", data={"n": 1}), stepwell.Event(name="x/z")]
        )

    @app.function("send-sync", trigger=stepwell.on_event("test/go"))
    def send_sync(ctx: SyncContext) -> list[str]:
        return ctx.step.send_event("send", stepwell.Event(name="x/sync", id="dedupe"))

    async with _served(app, api) as fn:
        d1 = await fn("send").call()
        d2 = await fn("send").call({h("send"): {"data": ["id-a", "id-b"]}})
        s1 = await fn("send-sync").call()
    [op] = d1.json()
    assert op["op"] == "StepRun"
    assert op["name"] == "sendEvent"
    assert op["displayName"] == "send"
    assert op["opts"] is None  # the server must not ingest them a second time
    assert op["data"] == ["ulid-1-0", "ulid-1-1"]
    assert d2.status_code == 200
    assert d2.json() == ["id-a", "id-b"]  # replayed: nothing sent again
    [first, second] = fake.of("/e/")
    assert first.path == "/e/NO_EVENT_KEY_SET"  # dev mode without an event key
    assert [e["name"] for e in first.body] == ["x/y", "x/z"]
    assert first.body[0]["data"] == {"n": 1}
    assert "id" not in first.body[0]
    assert isinstance(first.body[0]["ts"], int)
    assert first.headers["x-inngest-sdk"] == "stepwell-py:v0.1.0"
    assert "," in first.headers["x-inngest-event-id-seed"]
    assert second.body[0]["id"] == "dedupe"
    assert s1.json()[0]["data"] == ["ulid-2-0"]


async def test_a_failing_step_is_a_step_error_then_step_failed_on_the_last_attempt() -> None:
    app = stepwell.App("myapp")
    attempts: list[int] = []

    def broken() -> None:
        raise ValueError("broken")

    @app.function("fails", trigger=stepwell.on_event("test/go"), retries=1)
    async def fails(ctx: Context) -> str:
        attempts.append(ctx.attempt)
        await ctx.step.run("first step", broken)
        return "not reached"

    async with _served(app) as fn:
        executor = fn("fails")
        first = await executor.call(attempt=0, max_attempts=2)
        last = await executor.call(attempt=1, max_attempts=2)
        # Without ctx.max_attempts the function's own retries decide (1 retry: 2 attempts).
        default_last = await executor.call(attempt=1)
        failed = await executor.call({h("first step"): {"error": last.json()[0]["error"]}})
    [error] = first.json()
    assert first.status_code == 206
    assert error["op"] == "StepError"
    assert error["error"]["name"] == "ValueError"
    assert error["error"]["message"] == "broken"
    assert "Traceback" in error["error"]["stack"]
    assert "x-inngest-no-retry" not in first.headers
    assert [op["op"] for op in last.json()] == ["StepFailed"]
    assert [op["op"] for op in default_last.json()] == ["StepFailed"]
    assert attempts == [0, 1, 1, 0]
    # The stored failure is raised from the step; uncaught, it fails the run for good.
    assert failed.status_code == 500
    assert failed.headers["x-inngest-no-retry"] == "true"
    assert failed.json()["code"] == "step_errored"
    assert failed.json()["name"] == "ValueError"
    assert failed.json()["message"] == "broken"


async def test_step_level_non_retriable_and_retry_after_errors() -> None:
    app = stepwell.App("myapp")

    def fatal() -> None:
        raise stepwell.NonRetriableError("no point")

    def later() -> None:
        raise stepwell.RetryAfterError("busy", timedelta(seconds=30))

    @app.function("fatal", trigger=stepwell.on_event("test/go"))
    async def fatal_fn(ctx: Context) -> None:
        await ctx.step.run("s", fatal)

    @app.function("later", trigger=stepwell.on_event("test/go"))
    async def later_fn(ctx: Context) -> None:
        await ctx.step.run("s", later)

    async with _served(app) as fn:
        fatal_reply = await fn("fatal").call(max_attempts=5)
        later_reply = await fn("later").call(max_attempts=5)
    assert [op["op"] for op in fatal_reply.json()] == ["StepFailed"]
    assert fatal_reply.json()[0]["error"]["name"] == "NonRetriableError"
    assert [op["op"] for op in later_reply.json()] == ["StepError"]
    retry_at = parse_instant(later_reply.headers["retry-after"])
    assert timedelta(seconds=25) < retry_at - datetime.now(UTC) <= timedelta(seconds=30)


async def test_caught_step_failure_lets_the_function_finish() -> None:
    app = stepwell.App("myapp")

    @app.function("recovers", trigger=stepwell.on_event("test/go"))
    async def recovers(ctx: Context) -> str:
        try:
            await ctx.step.run("s", lambda: None)
        except stepwell.StepError as exc:
            return f"recovered from {exc.error_name}"
        return "not reached"

    async with _served(app) as fn:
        reply = await fn("recovers").call({h("s"): {"error": {"name": "E", "message": "m"}}})
    assert reply.status_code == 200
    assert reply.json() == "recovered from E"


async def test_function_level_errors_say_whether_to_retry() -> None:
    app = stepwell.App("myapp")

    @app.function("plain", trigger=stepwell.on_event("test/go"))
    async def plain(ctx: Context) -> None:
        raise KeyError("boom")

    @app.function("fatal", trigger=stepwell.on_event("test/go"))
    def fatal(ctx: SyncContext) -> None:
        raise stepwell.NonRetriableError("stop")

    @app.function("later", trigger=stepwell.on_event("test/go"))
    async def later(ctx: Context) -> None:
        raise stepwell.RetryAfterError("busy", 10)

    @app.function("unjson", trigger=stepwell.on_event("test/go"))
    async def unjson(ctx: Context) -> object:
        return {1, 2}

    async with _served(app) as fn:
        plain_reply = await fn("plain").call()
        fatal_reply = await fn("fatal").call()
        later_reply = await fn("later").call()
        unjson_reply = await fn("unjson").call()
    assert plain_reply.status_code == 500
    assert "x-inngest-no-retry" not in plain_reply.headers
    assert plain_reply.json()["code"] == "unknown"
    assert plain_reply.json()["name"] == "KeyError"
    assert plain_reply.json()["message"] == "'boom'"
    assert "Traceback" in plain_reply.json()["stack"]
    assert plain_reply.headers["x-inngest-sdk"] == "stepwell-py:v0.1.0"
    assert fatal_reply.status_code == 500
    assert fatal_reply.headers["x-inngest-no-retry"] == "true"
    assert fatal_reply.json()["code"] == "non_retriable_error"
    assert later_reply.status_code == 500
    assert "x-inngest-no-retry" not in later_reply.headers
    retry_at = parse_instant(later_reply.headers["retry-after"])
    assert timedelta(seconds=5) < retry_at - datetime.now(UTC) <= timedelta(seconds=10)
    assert unjson_reply.status_code == 500
    assert unjson_reply.headers["x-inngest-no-retry"] == "true"
    assert unjson_reply.json()["code"] == "output_unserializable"


async def test_the_attempt_reaches_the_function_and_a_retry_succeeds() -> None:
    app = stepwell.App("myapp")

    @app.function("flaky", trigger=stepwell.on_event("test/go"))
    async def flaky(ctx: Context) -> int:
        if ctx.attempt == 0:
            raise RuntimeError("first attempt fails")
        return ctx.attempt

    async with _served(app) as fn:
        first = await fn("flaky").call(attempt=0)
        retried = await fn("flaky").call(attempt=1)
    assert first.status_code == 500
    assert retried.status_code == 200
    assert retried.json() == 1


async def test_requests_the_handler_cannot_serve() -> None:
    app = stepwell.App("myapp")

    @app.function("f", trigger=stepwell.on_event("test/go"))
    async def f(ctx: Context) -> None:
        return None

    async with serving(stepwell.serve(app, is_dev=True)) as url, httpx.AsyncClient() as client:
        unknown = await client.post(f"{url}/api/inngest?fnId=myapp-nope", json={})
        no_fn = await client.post(f"{url}/api/inngest", json={})
        bad = await client.post(f"{url}/api/inngest?fnId=myapp-f", content=b"{not json")
        no_run = await client.post(f"{url}/api/inngest?fnId=myapp-f", json={"event": EVENT})
        legacy = await client.post(
            f"{url}/api/inngest?fnId=f&stepId=step",
            json={"ctx": {"run_id": "r"}, "event": EVENT, "steps": {}, "use_api": False},
        )
        probe = await client.post(f"{url}/api/inngest?probe=trust")
    assert (unknown.status_code, unknown.json()["code"]) == (500, "function_not_found")
    assert (no_fn.status_code, no_fn.json()["code"]) == (500, "query_param_missing")
    assert (bad.status_code, bad.json()["code"]) == (500, "body_invalid")
    assert (no_run.status_code, no_run.json()["code"]) == (500, "body_invalid")
    assert "ctx.run_id" in no_run.json()["message"]
    assert legacy.status_code == 200  # ids without the app prefix still resolve
    assert probe.status_code == 200
    assert probe.content == b"null"


async def test_use_api_fetches_events_and_memo_from_the_server(
    fake_api: tuple[FakeInngest, str],
) -> None:
    fake, api = fake_api
    fake.run_state = {
        "batch": [{**EVENT, "data": {"x": 7}}, {**EVENT, "data": {"x": 8}}],
        "actions": {h("a"): {"data": "from the api"}},
    }
    app = stepwell.App("myapp")

    @app.function("big", trigger=stepwell.on_event("test/go"))
    async def big(ctx: Context) -> list[Any]:
        a = await ctx.step.run("a", lambda: "not memoised")
        return [a, [e.data["x"] for e in ctx.events]]

    async with _served(app, api) as fn:
        reply = await fn("big").call(use_api=True, run_id="01BIG")
    assert reply.status_code == 200
    assert reply.json() == ["from the api", [7, 8]]
    assert sorted(r.path for r in fake.of("/v0/runs/")) == [
        "/v0/runs/01BIG/actions",
        "/v0/runs/01BIG/batch",
    ]
