"""The run's trace is stored with its steps: names as written, kinds, attempts, waits, restarts."""

from __future__ import annotations

import asyncio
import time

import stepwell
from stepwell import Context
from stepwell.ports.records import SpanKind, SpanStatus
from tests.waiting import eventually


def _app(failures: dict[str, int]) -> stepwell.App:
    app = stepwell.App("tr")

    def flaky() -> str:
        failures["flaky"] += 1
        if failures["flaky"] == 1:
            # Spans are timed in ms and the first step's write no longer comes in between
            # (checkpointing): end this attempt a ms after it began, so that its span sorts
            # after the first step's even when both began in the same ms.
            began = time.time_ns() // 1_000_000
            while time.time_ns() // 1_000_000 == began:
                pass
            raise RuntimeError("the first try fails")
        return "ok"

    @app.function("f", trigger=stepwell.on_event("tr/go"), retries=3)
    async def f(ctx: Context) -> str:
        await ctx.step.run("first step", lambda: 1)
        await ctx.step.run("flaky", flaky)
        await ctx.step.sleep("nap", "20ms")
        await ctx.step.wait_for_event("approval", event="tr/approved", timeout="30s")
        await ctx.step.wait_for_event("never", event="tr/never", timeout="30ms")
        return "done"

    return app


async def _waiting_for_approval(engine: stepwell.Engine, run_id: str) -> bool:
    return any(
        s.name == "approval" and s.status is SpanStatus.WAITING
        for s in await engine.history.run_trace(run_id)
    )


async def test_a_run_s_trace_shows_every_step_attempt_and_wait_and_survives_a_restart(
    db_url: str,
) -> None:
    failures = {"flaky": 0}
    app = _app(failures)
    async with app.embedded(db_url, retry_interval=0.01, poll_interval=0.02) as engine:
        [event_id] = await engine.send("tr/go", {})
        await eventually(lambda: _any_run(engine, event_id), what="the run")
        [run] = await engine.list_runs(event_id=event_id)
        await eventually(lambda: _waiting_for_approval(engine, run.run_id), what="the wait")
        await engine.send("tr/approved", {})
        [run] = await engine.wait_for_runs(event_id, timeout=15)
        trace = await engine.history.run_trace(run.run_id)
    assert run.output == "done"
    shown = [(s.name, s.kind, s.attempt, s.status) for s in trace]
    assert shown == [
        ("first step", SpanKind.RUN, 0, SpanStatus.COMPLETED),
        ("flaky", SpanKind.RUN, 0, SpanStatus.ERRORED),
        ("flaky", SpanKind.RUN, 1, SpanStatus.COMPLETED),
        ("nap", SpanKind.SLEEP, 0, SpanStatus.COMPLETED),
        ("approval", SpanKind.WAIT_FOR_EVENT, 0, SpanStatus.COMPLETED),
        ("never", SpanKind.WAIT_FOR_EVENT, 0, SpanStatus.COMPLETED),
    ]
    errored = trace[1]
    assert errored.error is not None
    assert "the first try fails" in errored.error["message"]
    assert all(s.ended_at is not None and s.ended_at >= s.started_at for s in trace)
    nap = trace[3]
    assert nap.ended_at is not None
    assert nap.ended_at - nap.started_at >= 20
    assert all(s.queued_ms >= 0 for s in trace)
    # What each wait waited for stays with it: a sleep's wake time, a wait's event and deadline.
    assert nap.detail is not None
    assert nap.detail["wake_at"] >= nap.started_at + 20
    approval, never = trace[4], trace[5]
    assert approval.detail is not None
    assert approval.detail["event"] == "tr/approved"
    assert approval.detail["timeout_at"] >= approval.started_at + 30_000
    assert never.detail is not None
    assert never.detail["event"] == "tr/never"

    async with _app(failures).embedded(db_url) as reopened:
        assert await reopened.history.run_trace(run.run_id) == trace


async def _any_run(engine: stepwell.Engine, event_id: str) -> bool:
    return bool(await engine.list_runs(event_id=event_id))


async def test_steps_run_side_by_side_overlap_in_the_trace(db_url: str) -> None:
    app = stepwell.App("par")

    async def nap(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "rested"

    @app.function("f", trigger=stepwell.on_event("par/go"))
    async def f(ctx: Context) -> list[str]:
        return list(
            await asyncio.gather(ctx.step.run("left", nap, 0.08), ctx.step.run("right", nap, 0.08))
        )

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("par/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=15)
        trace = {s.name: s for s in await engine.history.run_trace(run.run_id)}
    assert run.output == ["rested", "rested"]
    left, right = trace["left"], trace["right"]
    assert left.ended_at is not None
    assert right.ended_at is not None
    assert left.ended_at - left.started_at >= 80
    assert right.ended_at - right.started_at >= 80
    # Each began before the other ended: drawn side by side, not one after the other.
    assert right.started_at < left.ended_at
    assert left.started_at < right.ended_at
