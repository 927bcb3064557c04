"""Embedded mode: failed runs and retries on the ``stepwell`` loggers, Prometheus metrics in
``stepwell.metrics.registry``, and stacks that show the user's code, not Stepwell's."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import stepwell
import stepwell.metrics


def _failing_app(name: str) -> stepwell.App:
    app = stepwell.App(name)

    def charge_card(order: dict[str, int]) -> None:
        raise ValueError(f"card declined for order {order['id']}")

    @app.function("charge", trigger=stepwell.on_event(f"{name}/order"), retries=1)
    async def charge(ctx: stepwell.Context) -> None:
        await ctx.step.run("charge-card", charge_card, ctx.event.data)

    @app.function("ok", trigger=stepwell.on_event(f"{name}/fine"))
    async def ok(ctx: stepwell.Context) -> int:
        return int(await ctx.step.run("one", lambda: 1))

    return app


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_a_failed_run_is_logged_with_the_user_s_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = _failing_app("logs")
    caplog.set_level(logging.DEBUG, logger="stepwell")
    async with app.embedded(f"sqlite:///{tmp_path / 'db.sqlite'}", retry_interval=0.01) as engine:
        [event_id] = await engine.send("logs/order", {"id": 7})
        [run] = await engine.wait_for_runs(event_id, timeout=20)
    assert run.status is stepwell.RunStatus.FAILED
    runs = [r for r in caplog.records if r.name == "stepwell.runs"]
    [failure] = [r for r in runs if r.levelno == logging.ERROR]
    message = failure.getMessage()
    assert message.startswith(f"run failed: function=logs-charge run={run.run_id}"), message
    assert "ValueError: card declined for order 7" in message
    assert "in charge_card" in message
    assert __file__ in message
    assert "stepwell/sdk" not in message
    assert "stepwell/engine" not in message
    assert failure.run_id == run.run_id  # type: ignore[attr-defined]
    assert failure.function == "logs-charge"  # type: ignore[attr-defined]
    [retry] = [r for r in runs if r.getMessage().startswith("retrying:")]
    assert retry.levelno == logging.INFO
    assert "step 'charge-card' failed with ValueError" in retry.getMessage()
    assert retry.step == "charge-card"  # type: ignore[attr-defined]
    # The stored error points at the user's code too.
    assert run.error is not None
    assert "stepwell/sdk" not in run.error["stack"]
    assert "in charge_card" in run.error["stack"]


async def test_only_failures_reach_the_default_level(tmp_path: Path) -> None:
    # Quiet by default: Python's last-resort handler prints WARNING and above, and only a
    # failed run is logged that high (retries are INFO, completions DEBUG).
    app = _failing_app("quiet")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep(logging.WARNING)
    logging.getLogger("stepwell").addHandler(keep)
    try:
        async with app.embedded(f"sqlite:///{tmp_path / 'db.sqlite'}", retry_interval=0) as e:
            [fine] = await e.send("quiet/fine", {})
            await e.wait_for_runs(fine, timeout=20)
            [bad] = await e.send("quiet/order", {"id": 1})
            await e.wait_for_runs(bad, timeout=20)
    finally:
        logging.getLogger("stepwell").removeHandler(keep)
    assert [(r.levelname, r.getMessage().split(":")[0]) for r in seen] == [("ERROR", "run failed")]


async def test_metrics_count_runs_steps_and_events(tmp_path: Path) -> None:
    app = _failing_app("counted")
    before = _samples((await stepwell.metrics.exposition())[0].decode())
    async with app.embedded(
        f"sqlite:///{tmp_path / 'db.sqlite'}", retry_interval=0, metrics=True
    ) as engine:
        [fine] = await engine.send("counted/fine", {})
        await engine.wait_for_runs(fine, timeout=20)
        [bad] = await engine.send("counted/order", {"id": 1})
        await engine.wait_for_runs(bad, timeout=20)
        body, content_type = await stepwell.metrics.exposition(engine)
    assert content_type.startswith("text/plain")
    after = _samples(body.decode())

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("stepwell_runs_started_total", function="counted-ok") == 1
    assert grew("stepwell_runs_started_total", function="counted-charge") == 1
    assert grew("stepwell_runs_ended_total", function="counted-ok", status="completed") == 1
    assert grew("stepwell_runs_ended_total", function="counted-charge", status="failed") == 1
    assert grew("stepwell_retries_total", function="counted-charge") == 1
    assert grew("stepwell_steps_total", kind="run", outcome="completed") == 1
    assert grew("stepwell_steps_total", kind="run", outcome="errored") == 1
    assert grew("stepwell_steps_total", kind="run", outcome="failed") == 1
    assert grew("stepwell_events_received_total", source="external") == 2
    assert grew("stepwell_event_to_start_seconds_count") == 2
    assert grew("stepwell_step_duration_seconds_count", kind="run") == 3
    assert grew("stepwell_commit_batch_size_count") > 0
    assert grew("stepwell_commit_seconds_count") > 0
    # Gauges, read from the engine at exposition: nothing is left waiting.
    assert after[("stepwell_queue_due", ())] == 0
    assert after[("stepwell_runs_sleeping", ())] == 0
    assert after[("stepwell_runs_waiting", ())] == 0
    assert after[("stepwell_concurrency_keys", ())] == 0


async def test_gauges_show_sleeping_and_waiting_runs_and_held_slots(tmp_path: Path) -> None:
    import asyncio

    app = stepwell.App("gauges")
    release = asyncio.Event()
    inside = asyncio.Event()

    @app.function("sleeper", trigger=stepwell.on_event("gauges/sleep"))
    async def sleeper(ctx: stepwell.Context) -> None:
        await ctx.step.sleep("nap", "1h")

    @app.function("waiter", trigger=stepwell.on_event("gauges/wait"))
    async def waiter(ctx: stepwell.Context) -> None:
        await ctx.step.wait_for_event("for-it", event="gauges/never", timeout="1h")

    @app.function(
        "busy", trigger=stepwell.on_event("gauges/busy"), concurrency=stepwell.Concurrency(1)
    )
    async def busy(ctx: stepwell.Context) -> None:
        async def hold() -> None:
            inside.set()
            await release.wait()

        await ctx.step.run("hold", hold)

    async with app.embedded(f"sqlite:///{tmp_path / 'db.sqlite'}", metrics=True) as engine:
        await engine.send("gauges/sleep", {})
        await engine.send("gauges/wait", {})
        await engine.send("gauges/busy", {})
        await asyncio.wait_for(inside.wait(), 20)

        async def gauges() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            return _samples((await stepwell.metrics.exposition(engine))[0].decode())

        deadline = asyncio.get_running_loop().time() + 20
        while True:
            found = await gauges()
            if found[("stepwell_runs_sleeping", ())] == 1 and found[("stepwell_runs_waiting", ())]:
                break
            assert asyncio.get_running_loop().time() < deadline, found
            await asyncio.sleep(0.05)
        assert found[("stepwell_runs_waiting", ())] == 1
        slots = ("stepwell_concurrency_slots_in_use", (("function", "gauges-busy"),))
        assert found[slots] == 1
        assert found[("stepwell_concurrency_keys", ())] == 1
        release.set()


async def test_events_are_counted_external_or_internal_by_where_they_came_from(
    tmp_path: Path,
) -> None:
    app = stepwell.App("kinds")
    before = _samples((await stepwell.metrics.exposition())[0].decode())
    async with app.embedded(f"sqlite:///{tmp_path / 'db.sqlite'}", metrics=True) as engine:
        await engine.send([stepwell.Event("kinds/a", {"i": i}) for i in range(3)])
        # The engine's own events take the other path, and are read name by name.
        await engine.send_internal(
            [stepwell.Event("inngest/scheduled.timer", {}), stepwell.Event("kinds/b", {})]
        )
        after = _samples((await stepwell.metrics.exposition(engine))[0].decode())

    def grew(source: str) -> float:
        key = ("stepwell_events_received_total", (("source", source),))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("external") == 4
    assert grew("internal") == 1
