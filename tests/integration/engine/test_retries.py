"""Errors and retries: attempts, backoff, NonRetriableError, RetryAfterError, StepError."""

from __future__ import annotations

import contextlib
import itertools
import time
from datetime import timedelta
from typing import Any

import stepwell
from stepwell import Context


async def _run_one(app: stepwell.App, db_url: str, name: str, **engine_args: Any) -> stepwell.Run:
    engine_args.setdefault("retry_interval", 0.01)
    async with app.embedded(db_url, **engine_args) as engine:
        [event_id] = await engine.send(name, {})
        [run] = await engine.wait_for_runs(event_id, timeout=20)
    return run


async def test_default_retries_give_five_attempts_then_fail(db_url: str) -> None:
    app = stepwell.App("r5")
    attempts: list[int] = []

    @app.function("f", trigger=stepwell.on_event("r5/go"))
    async def f(ctx: Context) -> None:
        attempts.append(ctx.attempt)
        raise ValueError(f"attempt {ctx.attempt} broke")

    run = await _run_one(app, db_url, "r5/go")
    assert attempts == [0, 1, 2, 3, 4]
    assert run.status is stepwell.RunStatus.FAILED
    assert run.error is not None
    assert run.error["name"] == "ValueError"
    assert run.error["message"] == "attempt 4 broke"


async def test_retries_are_configurable_and_capped_at_twenty(db_url: str) -> None:
    app = stepwell.App("rc")

    @app.function("f", trigger=stepwell.on_event("rc/go"), retries=50)
    async def f(ctx: Context) -> None:
        raise ValueError("x")

    assert f.spec.retries == 20
    assert f.spec.max_attempts == 21


async def test_step_is_retried_then_succeeds_and_attempt_resets(db_url: str) -> None:
    app = stepwell.App("rs")
    calls: list[tuple[str, int]] = []

    @app.function("f", trigger=stepwell.on_event("rs/go"), retries=3)
    async def f(ctx: Context) -> str:
        def flaky() -> str:
            calls.append(("flaky", ctx.attempt))
            if ctx.attempt < 2:
                raise ConnectionError("try again")
            return "ok"

        first = await ctx.step.run("flaky", flaky)
        second = await ctx.step.run("after", lambda: ctx.attempt)
        return f"{first}-{second}"

    run = await _run_one(app, db_url, "rs/go")
    assert calls == [("flaky", 0), ("flaky", 1), ("flaky", 2)]
    assert run.output == "ok-0"  # the step after a success starts at attempt 0 again


async def test_exhausted_step_raises_step_error_that_the_function_may_catch(db_url: str) -> None:
    app = stepwell.App("se")
    tries = 0

    @app.function("f", trigger=stepwell.on_event("se/go"), retries=2)
    async def f(ctx: Context) -> str:
        def always() -> None:
            nonlocal tries
            tries += 1
            raise KeyError("gone")

        try:
            await ctx.step.run("always", always)
        except stepwell.StepError as exc:
            return f"recovered from {exc.error_name}"
        return "not reached"

    run = await _run_one(app, db_url, "se/go")
    assert tries == 3
    assert run.output == "recovered from KeyError"


async def test_uncaught_step_error_fails_the_run_without_more_retries(db_url: str) -> None:
    app = stepwell.App("su")
    bodies = 0

    @app.function("f", trigger=stepwell.on_event("su/go"), retries=1)
    async def f(ctx: Context) -> None:
        nonlocal bodies
        bodies += 1
        await ctx.step.run("always", lambda: 1 / 0)

    run = await _run_one(app, db_url, "su/go")
    assert run.status is stepwell.RunStatus.FAILED
    assert run.error is not None
    assert run.error["name"] == "StepError"
    assert "ZeroDivisionError" in run.error["message"]
    # Two attempts; the second raises StepError in the same execution (no extra replay).
    assert bodies == 2


async def test_non_retriable_error_fails_at_once(db_url: str) -> None:
    app = stepwell.App("nr")
    attempts = 0

    @app.function("f", trigger=stepwell.on_event("nr/go"))
    async def f(ctx: Context) -> None:
        nonlocal attempts
        attempts += 1
        raise stepwell.NonRetriableError("no point")

    run = await _run_one(app, db_url, "nr/go")
    assert attempts == 1
    assert run.status is stepwell.RunStatus.FAILED
    assert run.error is not None
    assert run.error["message"] == "no point"


async def test_non_retriable_error_in_a_step_fails_the_step_at_once(db_url: str) -> None:
    app = stepwell.App("nrs")
    tries = 0

    @app.function("f", trigger=stepwell.on_event("nrs/go"))
    async def f(ctx: Context) -> str:
        def refuse() -> None:
            nonlocal tries
            tries += 1
            raise stepwell.NonRetriableError("bad input")

        try:
            await ctx.step.run("refuse", refuse)
        except stepwell.StepError as exc:
            return exc.error_message
        return "not reached"

    run = await _run_one(app, db_url, "nrs/go")
    assert (tries, run.output) == (1, "bad input")


async def test_retry_after_error_waits_at_least_the_given_delay(db_url: str) -> None:
    app = stepwell.App("ra")
    times: list[float] = []

    @app.function("f", trigger=stepwell.on_event("ra/go"))
    async def f(ctx: Context) -> int:
        times.append(time.monotonic())  # noqa: SW101 (the test times the attempts)
        if ctx.attempt == 0:
            raise stepwell.RetryAfterError("busy", timedelta(seconds=1))
        return ctx.attempt

    run = await _run_one(app, db_url, "ra/go")
    assert run.output == 1
    assert times[1] - times[0] >= 0.99


async def test_fixed_retry_interval_overrides_the_backoff_table(db_url: str) -> None:
    app = stepwell.App("fx")
    times: list[float] = []

    @app.function("f", trigger=stepwell.on_event("fx/go"), retries=2)
    async def f(ctx: Context) -> None:
        times.append(time.monotonic())  # noqa: SW101 (the test times the attempts)
        raise ValueError("x")

    run = await _run_one(app, db_url, "fx/go", retry_interval=timedelta(milliseconds=200))
    assert run.status is stepwell.RunStatus.FAILED
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(gaps) == 2
    assert all(0.19 <= gap < 5 for gap in gaps)  # not the 15 s of the default table


async def test_a_caught_final_step_failure_leaves_the_next_step_its_own_retries(
    db_url: str,
) -> None:
    """A step that failed for good has settled: the next step counts its attempts from 0."""
    app = stepwell.App("rs")
    tries = {"a": 0, "b": 0}

    def always_fails() -> None:
        tries["a"] += 1
        raise RuntimeError("a is broken")

    def fails_once() -> str:
        tries["b"] += 1
        if tries["b"] == 1:
            raise RuntimeError("b hiccups")
        return "b ok"

    @app.function("f", trigger=stepwell.on_event("rs/go"), retries=1)
    async def f(ctx: Context) -> str:
        with contextlib.suppress(stepwell.StepError):
            await ctx.step.run("a", always_fails)
        return str(await ctx.step.run("b", fails_once))

    run = await _run_one(app, db_url, "rs/go")
    assert run.status is stepwell.RunStatus.COMPLETED
    assert run.output == "b ok"
    assert tries == {"a": 2, "b": 2}
