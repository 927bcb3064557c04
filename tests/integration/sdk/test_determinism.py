"""Non-determinism: a replay that takes another path fails the run (or warns, when asked)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import stepwell
from stepwell import Context
from stepwell.core.runs import RunStatus


def counter_app(strict: bool) -> tuple[stepwell.App, list[int]]:
    app = stepwell.App("determinism", strict_determinism=strict)
    calls = [0]  # module-level state in real code: it moves on with every execution

    @app.function("drift", trigger=stepwell.on_event("go"))
    async def drift(ctx: Context) -> str:
        calls[0] += 1
        await ctx.step.run(f"charge-{calls[0]}", lambda: "charged")
        await ctx.step.sleep("nap", "10ms")
        return "done"

    return app, calls


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_step_ids_that_change_between_executions_fail_the_run(db_url: str) -> None:
    app, _ = counter_app(strict=True)
    async with app.embedded(db_url, poll_interval=0.02) as engine:
        [event_id] = await engine.send("go")
        [run] = await engine.wait_for_runs(event_id, timeout=30)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["name"] == "NonDeterminismError"
    assert "'charge-2'" in run.error["message"]  # the new step
    assert "'charge-1'" in run.error["message"]  # the stored one not reached


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_not_strict_warns_and_completes(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, calls = counter_app(strict=False)
    with caplog.at_level(logging.WARNING, logger="stepwell.determinism"):
        async with app.embedded(db_url, poll_interval=0.02) as engine:
            [event_id] = await engine.send("go")
            [run] = await engine.wait_for_runs(event_id, timeout=30)
    assert run.status is RunStatus.COMPLETED, run.error
    assert calls[0] >= 2
    warnings = [r.getMessage() for r in caplog.records if r.name == "stepwell.determinism"]
    assert any("'charge-2'" in w and "'charge-1'" in w for w in warnings), warnings


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_function_override_of_the_app_setting(db_url: str) -> None:
    app = stepwell.App("determinism-override")  # strict by default
    calls = [0]

    @app.function("drift", trigger=stepwell.on_event("go"), strict_determinism=False)
    async def drift(ctx: Context) -> int:
        calls[0] += 1
        await ctx.step.run(f"s-{calls[0]}", lambda: 1)
        await ctx.step.sleep("nap", "10ms")
        return calls[0]

    async with app.embedded(db_url, poll_interval=0.02) as engine:
        [event_id] = await engine.send("go")
        [run] = await engine.wait_for_runs(event_id, timeout=30)
    assert run.status is RunStatus.COMPLETED, run.error


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_parallel_steps_finishing_in_another_order_are_not_a_divergence(
    db_url: str,
) -> None:
    app = stepwell.App("determinism-parallel")
    executions = [0]

    async def slow_then_fast(name: str, first: bool) -> str:
        # The first execution finishes "a" first; every replay reaches "b" first.
        await asyncio.sleep(0.05 if first == (executions[0] > 1) else 0)
        return name

    @app.function("fan", trigger=stepwell.on_event("go"))
    async def fan(ctx: Context) -> list[Any]:
        executions[0] += 1

        async def branch(name: str, first: bool) -> str:
            if executions[0] > 1 and first:
                await asyncio.sleep(0.01)  # noqa: SW105 (replays: this branch reaches its stored step last)
            return await ctx.step.run(name, slow_then_fast, name, first)

        both = await asyncio.gather(branch("a", True), branch("b", False))
        await ctx.step.sleep("nap", "10ms")
        # A new step after a gather whose stored steps were reached in another order.
        tail = await ctx.step.run("tail", lambda: "t")
        # A new step in one branch while the other still replays its stored one.
        more = await asyncio.gather(branch("c", True), ctx.step.run("d", lambda: "d"))
        await ctx.step.sleep("nap2", "10ms")
        return [*both, tail, *more]

    async with app.embedded(db_url, poll_interval=0.02) as engine:
        [event_id] = await engine.send("go")
        [run] = await engine.wait_for_runs(event_id, timeout=30)
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.output == ["a", "b", "t", "c", "d"]
    assert executions[0] == 3


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_retried_branch_reached_before_its_stored_sibling_is_not_a_divergence(
    db_url: str,
) -> None:
    app = stepwell.App("determinism-retry")
    attempts = [0]

    def flaky() -> str:
        attempts[0] += 1
        if attempts[0] == 1:
            raise RuntimeError("first attempt fails")
        return "flaky"

    @app.function("fan", trigger=stepwell.on_event("go"), retries=2)
    async def fan(ctx: Context) -> list[str]:
        # The first execution stores only "ok"; the retry reaches the new "flaky" before
        # the gather's other branch has replayed "ok".
        return list(
            await asyncio.gather(ctx.step.run("flaky", flaky), ctx.step.run("ok", lambda: "ok"))
        )

    async with app.embedded(db_url, poll_interval=0.02, retry_interval=0.01) as engine:
        [event_id] = await engine.send("go")
        [run] = await engine.wait_for_runs(event_id, timeout=30)
    assert run.status is RunStatus.COMPLETED, run.error
    assert run.output == ["flaky", "ok"]
