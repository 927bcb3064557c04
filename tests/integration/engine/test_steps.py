"""Step tools: run, sleep, sleep_until, wait_for_event, invoke, send_event, parallel steps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import stepwell
from stepwell import Context
from stepwell.protocol.step_ids import hash_step_id
from tests.waiting import eventually


async def _run_one(
    app: stepwell.App, db_url: str, name: str, data: dict[str, Any] | None = None
) -> stepwell.Run:
    run, _ = await _run_with_memo(app, db_url, name, data)
    return run


async def _run_with_memo(
    app: stepwell.App, db_url: str, name: str, data: dict[str, Any] | None = None
) -> tuple[stepwell.Run, dict[str, Any]]:
    """The finished run and its stored step results, in the order they were saved."""
    async with app.embedded(db_url, retry_interval=0.01) as engine:
        [event_id] = await engine.send(name, data or {})
        [run] = await engine.wait_for_runs(event_id, timeout=15)
        memo = await engine.store.load_memo(run.run_id)
    return run, memo


async def test_run_accepts_sync_and_async_callables_with_arguments(db_url: str) -> None:
    app = stepwell.App("run")

    async def add_async(a: int, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    def times(a: int, *, b: int) -> int:
        return a * b

    @app.function("f", trigger=stepwell.on_event("run/go"))
    async def f(ctx: Context) -> list[int]:
        x = await ctx.step.run("sync", times, 3, b=4)
        y = await ctx.step.run("async", add_async, 1, b=2)
        return [x, y]

    run = await _run_one(app, db_url, "run/go")
    assert run.output == [12, 3]


async def test_non_json_result_fails_the_step_with_a_clear_error(db_url: str) -> None:
    app = stepwell.App("json")
    caught: list[stepwell.StepError] = []

    @app.function("f", trigger=stepwell.on_event("json/go"))
    async def f(ctx: Context) -> str:
        try:
            await ctx.step.run("bad", lambda: {1, 2})
        except stepwell.StepError as exc:
            caught.append(exc)
            return "handled"
        return "not reached"

    run = await _run_one(app, db_url, "json/go")
    assert run.output == "handled"
    [error] = caught
    assert error.error_name == "StepOutputError"
    assert "not JSON serialisable" in error.error_message
    assert "'bad'" in error.error_message


async def test_step_output_over_4_mib_is_refused(db_url: str) -> None:
    app = stepwell.App("big")

    @app.function("f", trigger=stepwell.on_event("big/go"))
    async def f(ctx: Context) -> str:
        await ctx.step.run("huge", lambda: "x" * (4 * 1024 * 1024 + 1))
        return "not reached"

    run = await _run_one(app, db_url, "big/go")
    assert run.status is stepwell.RunStatus.FAILED
    assert run.error is not None
    assert "over the limit of 4194304 bytes" in run.error["message"]


async def test_sleep_accepts_timedelta_and_strings_and_sleep_until(db_url: str) -> None:
    app = stepwell.App("sleep")
    # Measured from before ``until`` is fixed, so the run cannot take less than 300 ms of it.
    started = datetime.now(UTC)
    until = started + timedelta(milliseconds=300)

    @app.function("f", trigger=stepwell.on_event("sleep/go"))
    async def f(ctx: Context) -> str:
        await ctx.step.sleep("a", timedelta(milliseconds=50))
        await ctx.step.sleep("b", "50ms")
        await ctx.step.sleep_until("c", until)
        return datetime.now(UTC).isoformat()  # noqa: SW101 (differs on purpose)

    run, memo = await _run_with_memo(app, db_url, "sleep/go")
    assert run.status is stepwell.RunStatus.COMPLETED
    finished = datetime.fromisoformat(run.output)
    assert finished >= until
    assert finished - started >= timedelta(milliseconds=300)
    assert hash_step_id("a") in memo
    assert memo[hash_step_id("a")] is None  # a finished sleep is stored as null (§5.4)


async def test_wait_for_event_with_match_if_and_timeout(db_url: str) -> None:
    app = stepwell.App("wait")

    @app.function("f", trigger=stepwell.on_event("wait/go"))
    async def f(ctx: Context) -> dict[str, Any]:
        by_match = await ctx.step.wait_for_event(
            "m", event="wait/paid", match="data.order", timeout="10s"
        )
        by_if = await ctx.step.wait_for_event(
            "i", event="wait/shipped", if_="async.data.n > event.data.min", timeout="10s"
        )
        timed_out = await ctx.step.wait_for_event("t", event="wait/never", timeout="50ms")
        assert by_match is not None
        assert by_if is not None
        return {"match": by_match.data, "if": by_if.data, "timeout": timed_out}

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("wait/go", {"order": 5, "min": 10})
        await eventually(lambda: _pauses(engine, "wait/paid"), what="first wait")
        await engine.send("wait/paid", {"order": 6})  # different order: ignored
        await engine.send("wait/paid", {"order": 5, "amount": 1})
        await eventually(lambda: _pauses(engine, "wait/shipped"), what="second wait")
        await engine.send("wait/shipped", {"n": 3})  # fails the if: ignored
        await engine.send("wait/shipped", {"n": 30})
        [run] = await engine.wait_for_runs(event_id, timeout=15)
    assert run.output == {"match": {"order": 5, "amount": 1}, "if": {"n": 30}, "timeout": None}


async def _pauses(engine: stepwell.Engine, name: str) -> bool:
    return bool(await engine.store.find_pauses(name))


async def test_invoke_returns_result_raises_on_failure_and_times_out(db_url: str) -> None:
    app = stepwell.App("invk")
    release = asyncio.Event()

    @app.function("ok")
    async def ok(ctx: Context) -> int:
        return int(ctx.event.data["n"]) + 1

    @app.function("broken", retries=0)
    async def broken(ctx: Context) -> None:
        raise ValueError("child broke")

    @app.function("slow")
    async def slow(ctx: Context) -> str:
        await ctx.step.run("wait", lambda: asyncio.wait_for(release.wait(), 10))
        return "late"

    @app.function("parent", trigger=stepwell.on_event("invk/go"))
    async def parent(ctx: Context) -> dict[str, Any]:
        result = await ctx.step.invoke("ok", function=ok, data={"n": 41})
        errors = []
        for step_id, target, timeout in (
            ("broken", broken, None),
            ("slow", slow, "100ms"),
            ("missing", "invk-nope", None),
        ):
            try:
                await ctx.step.invoke(step_id, function=target, timeout=timeout)
            except stepwell.StepError as exc:
                errors.append([exc.error_name, exc.error_message])
        release.set()
        return {"result": result, "errors": errors}

    run = await _run_one(app, db_url, "invk/go")
    assert run.status is stepwell.RunStatus.COMPLETED, run.error
    assert run.output["result"] == 42
    assert run.output["errors"] == [
        ["ValueError", "child broke"],
        ["InngestInvokeTimeoutError", "Timed out waiting for invoked function to complete"],
        ["Error", "could not find function with ID: invk-nope"],
    ]


async def test_send_event_returns_ids_and_starts_functions_once(db_url: str) -> None:
    app = stepwell.App("send")

    @app.function("listener", trigger=stepwell.on_event("send/ping"))
    async def listener(ctx: Context) -> Any:
        return ctx.event.data["i"]

    @app.function("f", trigger=stepwell.on_event("send/go"))
    async def f(ctx: Context) -> list[str]:
        ids: list[str] = await ctx.step.send_event(
            "ping", [stepwell.Event(name="send/ping", data={"i": i}) for i in range(3)]
        )
        await ctx.step.sleep("replay-me", "10ms")  # the send is replayed, not repeated
        return ids

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("send/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=10)
        assert len(run.output) == 3
        outputs = [r.output for i in run.output for r in await engine.wait_for_runs(i, timeout=10)]
        listener_runs = await engine.list_runs(function_id="send-listener")
    assert sorted(outputs) == [0, 1, 2]
    assert len(listener_runs) == 3


async def test_gathered_steps_run_in_parallel(db_url: str) -> None:
    app = stepwell.App("par")
    a_started = asyncio.Event()
    b_started = asyncio.Event()

    async def a() -> str:
        a_started.set()
        await asyncio.wait_for(b_started.wait(), 5)  # only returns if b runs meanwhile
        return "a"

    async def b() -> str:
        b_started.set()
        await asyncio.wait_for(a_started.wait(), 5)
        return "b"

    @app.function("f", trigger=stepwell.on_event("par/go"))
    async def f(ctx: Context) -> list[str]:
        return list(await asyncio.gather(ctx.step.run("a", a), ctx.step.run("b", b)))

    run = await _run_one(app, db_url, "par/go")
    assert run.output == ["a", "b"]


async def test_parallel_sleep_and_step_both_complete(db_url: str) -> None:
    app = stepwell.App("mix")
    counts = {"work": 0}

    def work() -> str:
        counts["work"] += 1
        return "done"

    @app.function("f", trigger=stepwell.on_event("mix/go"))
    async def f(ctx: Context) -> list[Any]:
        results = await asyncio.gather(
            ctx.step.run("work", work),
            ctx.step.sleep("nap", "30ms"),
            ctx.step.wait_for_event("w", event="mix/never", timeout="60ms"),
        )
        return list(results)

    run = await _run_one(app, db_url, "mix/go")
    assert run.output == ["done", None, None]
    assert counts["work"] == 1


async def test_repeated_step_ids_get_index_suffixes(db_url: str) -> None:
    app = stepwell.App("rep")

    @app.function("f", trigger=stepwell.on_event("rep/go"))
    async def f(ctx: Context) -> list[int]:
        return [await ctx.step.run("same", lambda i=i: i) for i in range(3)]

    run, memo = await _run_with_memo(app, db_url, "rep/go")
    assert run.output == [0, 1, 2]
    assert list(memo) == [hash_step_id("same"), hash_step_id("same:1"), hash_step_id("same:2")]


async def test_nested_steps_raise_a_clear_error(db_url: str) -> None:
    app = stepwell.App("nest")

    @app.function("f", trigger=stepwell.on_event("nest/go"))
    async def f(ctx: Context) -> str:
        async def outer() -> Any:
            return await ctx.step.run("inner", lambda: 1)  # noqa: SW103 (the nested step under test)

        try:
            await ctx.step.run("outer", outer)
        except stepwell.StepError as exc:
            return f"{exc.error_name}: {exc.error_message}"
        return "not reached"

    run = await _run_one(app, db_url, "nest/go")
    assert run.output.startswith("NestedStepError: step 'inner' was called inside the body of")


@pytest.mark.parametrize("bad", [{"match": "data.x", "if_": "true"}, {"match": "a b"}])
async def test_wait_for_event_refuses_bad_arguments(db_url: str, bad: dict[str, str]) -> None:
    app = stepwell.App("badwait")

    @app.function("f", trigger=stepwell.on_event("badwait/go"), retries=0)
    async def f(ctx: Context) -> None:
        await ctx.step.wait_for_event("w", event="x", timeout="1s", **bad)

    run = await _run_one(app, db_url, "badwait/go")
    assert run.status is stepwell.RunStatus.FAILED
    assert run.error is not None
    assert run.error["name"] in ("ConfigError", "ExpressionError")  # both are ConfigErrors
