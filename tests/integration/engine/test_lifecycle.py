"""Lifecycle and operations: on_failure, lookback, bulk cancel, pause/resume/replay, reruns."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import stepwell
from stepwell import Context, RunStatus
from tests.integration.engine.conftest import all_ended, runs_of
from tests.waiting import eventually


async def test_on_failure_handler_runs_with_the_failure(db_url: str) -> None:
    app = stepwell.App("of")
    seen: list[dict[str, Any]] = []

    async def handle(ctx: Context) -> str:
        seen.append(ctx.event.data)
        return "handled"

    @app.function("f", trigger=stepwell.on_event("of/go"), retries=0, on_failure=handle)
    async def f(ctx: Context) -> None:
        raise ValueError("broken")

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("of/go", {"x": 1})
        [run] = await engine.wait_for_runs(event_id, timeout=10)
        await eventually(lambda: all_ended(engine, "of-f-failure", 1), what="failure handler")
        [handler_run] = await runs_of(engine, "of-f-failure")
    assert run.status is RunStatus.FAILED
    assert handler_run.output == "handled"
    [data] = seen
    assert (data["function_id"], data["run_id"]) == ("of-f", run.run_id)
    assert data["error"]["message"] == "broken"
    assert data["event"]["data"] == {"x": 1}


async def test_wait_for_event_lookback_matches_an_event_sent_just_before(db_url: str) -> None:
    app = stepwell.App("lb")

    @app.function("f", trigger=stepwell.on_event("lb/go"))
    async def f(ctx: Context) -> Any:
        await ctx.step.sleep("later", "50ms")  # the payment arrives during this sleep
        early = await ctx.step.wait_for_event(
            "paid", event="lb/paid", match="data.order", timeout="5s", lookback="1m"
        )
        strict = await ctx.step.wait_for_event(
            "strict", event="lb/paid", match="data.order", timeout="100ms"
        )
        return [early.data if early else None, strict]

    async with app.embedded(db_url, poll_interval=0.02) as engine:
        [event_id] = await engine.send("lb/go", {"order": 7})
        await engine.send("lb/paid", {"order": 7})
        [run] = await engine.wait_for_runs(event_id, timeout=10)
    # With lookback the earlier event matches; without, the same event is not seen again.
    assert run.output == [{"order": 7}, None]


async def test_bulk_cancel_by_window_and_filter(db_url: str) -> None:
    app = stepwell.App("bulk")

    @app.function("f", trigger=stepwell.on_event("bulk/go"))
    async def f(ctx: Context) -> None:
        await ctx.step.sleep("long", "1h")

    async with app.embedded(db_url) as engine:
        await engine.send([{"name": "bulk/go", "data": {"vip": v}} for v in (True, False, False)])
        await eventually(lambda: _all_running(engine, 3), what="three sleeping runs")
        before = await runs_of(engine, "bulk-f")
        cancelled = await engine.cancel_runs(
            "bulk-f", started_after=before[0].created_at, if_="event.data.vip == false"
        )
        after = await runs_of(engine, "bulk-f")
        with pytest.raises(LookupError):
            await engine.cancel_runs("bulk-nope")
    assert len(cancelled) == 2
    assert sorted(r.status.value for r in after) == ["Cancelled", "Cancelled", "Running"]


async def _all_running(engine: stepwell.Engine, count: int) -> bool:
    runs = await runs_of(engine, "bulk-f")
    return len(runs) == count and all(r.status is RunStatus.RUNNING for r in runs)


async def test_paused_function_starts_no_runs_and_its_events_can_be_replayed(db_url: str) -> None:
    app = stepwell.App("pz")

    @app.function("f", trigger=stepwell.on_event("pz/go"))
    async def f(ctx: Context) -> Any:
        return ctx.event.data["n"]

    async with app.embedded(db_url) as engine:
        await engine.pause_function("pz-f")
        [first] = await engine.send("pz/go", {"n": 1})
        stored = await engine.store.get_events([first])
    async with app.embedded(db_url) as engine:  # paused survives a restart
        await engine.send("pz/go", {"n": 2})
        assert await runs_of(engine, "pz-f") == []
        await engine.resume_function("pz-f")
        await engine.send("pz/go", {"n": 3})
        await eventually(lambda: all_ended(engine, "pz-f", 1), what="runs again once resumed")
        replayed = await engine.replay("pz-f", received_after=stored[0].received_at)
        await eventually(lambda: all_ended(engine, "pz-f", 4), what="the replayed runs")
        outputs = sorted(r.output for r in await runs_of(engine, "pz-f"))
    assert len(replayed) == 3  # events 1, 2 (kept while paused) and 3
    assert outputs == [1, 2, 3, 3]


async def test_rerun_and_rerun_from_a_step_keeps_earlier_results(db_url: str) -> None:
    app = stepwell.App("rr")
    calls: list[str] = []

    def call(name: str) -> str:
        calls.append(name)
        return f"{name}{len(calls)}"

    @app.function("f", trigger=stepwell.on_event("rr/go"))
    async def f(ctx: Context) -> list[str]:
        return [await ctx.step.run(name, call, name) for name in "abc"]

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("rr/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=10)
        whole = await engine.rerun(run.run_id)
        await eventually(lambda: all_ended(engine, "rr-f", 2), what="rerun")
        from_b = await engine.rerun(run.run_id, from_step="b")
        await eventually(lambda: all_ended(engine, "rr-f", 3), what="rerun from b")
        reruns = {r.run_id: r for r in await runs_of(engine, "rr-f")}
        with pytest.raises(LookupError, match="no stored step"):
            await engine.rerun(run.run_id, from_step="zzz")
    assert run.output == ["a1", "b2", "c3"]
    assert reruns[whole].output == ["a4", "b5", "c6"]
    assert reruns[from_b].output == ["a1", "b7", "c8"]  # a kept, b and c ran again
    assert calls == ["a", "b", "c", "a", "b", "c", "b", "c"]


async def test_sync_functions_can_wait_with_lookback(db_url: str) -> None:
    app = stepwell.App("slb")

    @app.function("f", trigger=stepwell.on_event("slb/go"))
    def f(ctx: stepwell.SyncContext) -> Any:
        got = ctx.step.wait_for_event("w", event="slb/x", timeout="1s", lookback="1m")
        return got.name if got else None

    async with app.embedded(db_url) as engine:
        await engine.send("slb/x", {})
        await asyncio.sleep(0)
        [event_id] = await engine.send("slb/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=10)
    assert run.output == "slb/x"
