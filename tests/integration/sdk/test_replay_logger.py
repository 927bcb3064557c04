"""``ctx.logger`` is silent only while stored steps replay, and speaks again at new work."""

from __future__ import annotations

import logging

import pytest

import stepwell
from stepwell import Context
from stepwell.core.runs import RunStatus


def _lines(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_lines_before_a_sleep_appear_once_and_after_it_in_the_second_execution(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = stepwell.App("logger")
    executions = [0]

    @app.function("f", trigger=stepwell.on_event("go"))
    async def f(ctx: Context) -> None:
        executions[0] += 1
        ctx.logger.info("before")
        await ctx.step.run("work", lambda: 1)
        ctx.logger.info("between")
        await ctx.step.sleep("nap", "10ms")
        ctx.logger.info("after")

    with caplog.at_level(logging.INFO, logger="stepwell.fn.logger-f"):
        async with app.embedded(db_url, poll_interval=0.02) as engine:
            [event_id] = await engine.send("go")
            [run] = await engine.wait_for_runs(event_id, timeout=30)
    assert run.status is RunStatus.COMPLETED, run.error
    assert executions[0] == 2
    assert _lines(caplog, "stepwell.fn.logger-f") == ["before", "between", "after"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_the_logger_speaks_again_after_a_stored_step_was_skipped(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = stepwell.App("logger-skip", strict_determinism=False)
    executions = [0]

    @app.function("f", trigger=stepwell.on_event("go"))
    async def f(ctx: Context) -> None:
        executions[0] += 1
        if executions[0] == 1:  # a path the replay does not take again
            await ctx.step.run("only-first", lambda: 1)
        ctx.logger.info(f"start {executions[0]}")
        await ctx.step.sleep("nap", "10ms")
        await ctx.step.run("new-work", lambda: 2)
        ctx.logger.info(f"end {executions[0]}")

    with caplog.at_level(logging.INFO, logger="stepwell.fn.logger-skip-f"):
        async with app.embedded(db_url, poll_interval=0.02) as engine:
            [event_id] = await engine.send("go")
            [run] = await engine.wait_for_runs(event_id, timeout=30)
    assert run.status is RunStatus.COMPLETED, run.error
    # "start 2" is replay (the sleep is stored); "end 2" follows new work and is logged even
    # though the stored "only-first" is never reached again.
    assert _lines(caplog, "stepwell.fn.logger-skip-f") == ["start 1", "end 2"]
