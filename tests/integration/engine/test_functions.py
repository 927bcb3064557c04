"""Functions: async and sync bodies, the context, triggers, the contract example."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import timedelta
from typing import Any

import pytest

import stepwell
from stepwell import Context, SyncContext
from tests.waiting import eventually


async def test_the_issue_contract_program_completes(db_url: str) -> None:
    from examples import shop

    async with shop.app.embedded(db_url) as engine:
        [event_id] = await engine.send("shop/order.placed", {"order_id": 7})
        await eventually(
            lambda: _has_waiting_pause(engine), timeout=10, what="run waiting for payment"
        )
        await engine.send("shop/payment.received", {"order_id": 7})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
    assert str(run.status) == "Completed"
    assert run.output == {"charged": True, "receipt": "r-1", "email": "e-1", "shipped": "shipped 7"}


async def _has_waiting_pause(engine: stepwell.Engine) -> bool:
    return bool(await engine.store.find_pauses("shop/payment.received"))


async def test_context_exposes_event_events_run_id_and_attempt(db_url: str) -> None:
    app = stepwell.App("ctx")
    seen: dict[str, Any] = {}

    @app.function("f", trigger=stepwell.on_event("ctx/go"))
    async def f(ctx: Context) -> str:
        seen.update(event=ctx.event, events=ctx.events, run_id=ctx.run_id, attempt=ctx.attempt)
        return "ok"

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("ctx/go", {"n": 1}, id="user-key")
        [run] = await engine.wait_for_runs(event_id, timeout=10)
    assert seen["event"].name == "ctx/go"
    assert seen["event"].data == {"n": 1}
    assert seen["event"].id == "user-key"  # the sender's id, not ours
    assert [e.name for e in seen["events"]] == ["ctx/go"]
    assert seen["run_id"] == run.run_id
    assert seen["attempt"] == 0


async def test_sync_function_runs_in_a_worker_thread_with_sync_steps(db_url: str) -> None:
    app = stepwell.App("sync")
    threads: list[str] = []

    @app.function("child")
    def child(ctx: SyncContext) -> int:
        return int(ctx.event.data["x"]) * 2

    @app.function("f", trigger=stepwell.on_event("sync/go"))
    def f(ctx: SyncContext) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        a = ctx.step.run("a", lambda x: x + 1, 1)
        ctx.step.sleep("nap", timedelta(milliseconds=50))
        doubled = ctx.step.invoke("call", function=child, data={"x": a})
        ids = ctx.step.send_event("tell", stepwell.Event(name="sync/told"))
        got = ctx.step.wait_for_event("w", event="sync/reply", timeout="50ms")
        return {"a": a, "doubled": doubled, "sent": len(ids), "got": got}

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("sync/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=20)
    assert run.status is stepwell.RunStatus.COMPLETED, run.error
    assert run.output == {"a": 2, "doubled": 4, "sent": 1, "got": None}
    assert all(name.startswith("stepwell-sync") for name in threads)


async def test_logger_does_not_repeat_lines_on_replay(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = stepwell.App("logs")

    @app.function("f", trigger=stepwell.on_event("logs/go"))
    async def f(ctx: Context) -> None:
        ctx.logger.info("before the sleep")
        await ctx.step.run("one", lambda: 1)
        await ctx.step.sleep("nap", "20ms")
        ctx.logger.info("after the sleep")

    caplog.set_level(logging.INFO, logger="stepwell.fn")
    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("logs/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=10)
    assert run.status is stepwell.RunStatus.COMPLETED
    messages = [r.getMessage() for r in caplog.records if r.name == "stepwell.fn.logs-f"]
    assert messages == ["before the sleep", "after the sleep"]


async def test_if_expression_and_list_of_triggers_start_one_run_per_event(db_url: str) -> None:
    app = stepwell.App("trig")

    @app.function(
        "f",
        trigger=[
            stepwell.on_event("trig/a", if_="event.data.amount > 10"),
            stepwell.on_event("trig/b"),
            stepwell.on_event("trig/*"),
        ],
    )
    async def f(ctx: Context) -> str:
        return ctx.event.name

    async with app.embedded(db_url) as engine:
        [big] = await engine.send("trig/a", {"amount": 20})
        [small] = await engine.send("trig/a", {"amount": 5})
        [other] = await engine.send("trig/b", {})
        big_runs = await engine.wait_for_runs(big, timeout=10)
        other_runs = await engine.wait_for_runs(other, timeout=10)
        small_runs = await engine.list_runs(event_id=small)
    # trig/a matches two triggers (the if and the wildcard) but starts one run.
    assert [r.output for r in big_runs] == ["trig/a"]
    assert [r.output for r in other_runs] == ["trig/b"]
    # The wildcard trigger has no condition, so the small order starts one run as well.
    assert len(small_runs) == 1


async def test_if_expression_alone_filters_events(db_url: str) -> None:
    app = stepwell.App("iff")

    @app.function("f", trigger=stepwell.on_event("iff/a", if_="event.data.amount > 10"))
    async def f(ctx: Context) -> int:
        return int(ctx.event.data["amount"])

    async with app.embedded(db_url) as engine:
        [small] = await engine.send("iff/a", {"amount": 5})
        [big] = await engine.send("iff/a", {"amount": 50})
        [run] = await engine.wait_for_runs(big, timeout=10)
        assert await engine.list_runs(event_id=small) == []
    assert run.output == 50


def test_bad_trigger_expression_is_refused_at_definition() -> None:
    with pytest.raises(ValueError, match="invalid expression"):
        stepwell.on_event("x/y", if_="event.data.(")


async def test_function_without_trigger_runs_only_when_invoked(db_url: str) -> None:
    app = stepwell.App("inv")

    @app.function("callee")
    async def callee(ctx: Context) -> str:
        return f"hello {ctx.event.data['who']}"

    @app.function("caller", trigger=stepwell.on_event("inv/go"))
    async def caller(ctx: Context) -> Any:
        return await ctx.step.invoke("call", function=callee, data={"who": "bob"})

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("inv/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=10)
        callee_runs = await engine.list_runs(function_id="inv-callee")
    assert run.output == "hello bob"
    assert [r.status for r in callee_runs] == [stepwell.RunStatus.COMPLETED]
    assert callee_runs[0].correlation_id is not None


async def test_many_runs_proceed_concurrently(db_url: str) -> None:
    app = stepwell.App("conc")
    gate = asyncio.Event()
    entered = 0

    @app.function("f", trigger=stepwell.on_event("conc/go"))
    async def f(ctx: Context) -> str:
        async def wait_for_all() -> str:
            nonlocal entered
            entered += 1
            if entered == 5:
                gate.set()
            await asyncio.wait_for(gate.wait(), 10)
            return "met"

        result: str = await ctx.step.run("meet", wait_for_all)
        return result

    async with app.embedded(db_url) as engine:
        ids = await engine.send([stepwell.Event(name="conc/go") for _ in range(5)])
        runs = [r for i in ids for r in await engine.wait_for_runs(i, timeout=15)]
    assert [r.output for r in runs] == ["met"] * 5
