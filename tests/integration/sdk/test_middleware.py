"""Middleware hooks: their order, input/output and sent-event transforms, app vs function."""

from __future__ import annotations

from typing import Any

import pytest

import stepwell
from stepwell import Context, SyncContext
from stepwell.core.runs import RunStatus
from tests.waiting import eventually


class Recorder(stepwell.Middleware):
    def __init__(self, name: str, calls: list[str]) -> None:
        self.name, self.calls = name, calls

    async def before_execution(self, run_id: str) -> None:
        self.calls.append(f"{self.name}:before_execution")

    async def after_execution(self, run_id: str) -> None:
        self.calls.append(f"{self.name}:after_execution")

    async def before_step(self, step_id: str) -> None:
        self.calls.append(f"{self.name}:before_step:{step_id}")

    async def after_step(self, step_id: str, result: Any) -> None:
        self.calls.append(f"{self.name}:after_step:{step_id}={result}")


class Shout(stepwell.Middleware):
    """Adds to the input, wraps the output, tags sent events."""

    async def transform_input(self, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "seen_by": "shout"}

    async def transform_output(self, output: Any) -> Any:
        return {"wrapped": output}

    async def before_send_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**e, "data": {**e["data"], "tagged": True}} for e in events]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_hooks_run_in_order_app_first_function_second(db_url: str) -> None:
    calls: list[str] = []
    app = stepwell.App("mw", middleware=[Recorder("app", calls)])

    @app.function("f", trigger=stepwell.on_event("go"), middleware=[Recorder("fn", calls)])
    async def f(ctx: Context) -> int:
        return await ctx.step.run("one", lambda: 1)

    @app.function("g", trigger=stepwell.on_event("go-sync"))
    def g(ctx: SyncContext) -> int:
        return ctx.step.run("two", lambda: 2)

    async with app.embedded(db_url, poll_interval=0.02) as engine:
        [event_id] = await engine.send("go")
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        assert run.status is RunStatus.COMPLETED, run.error
        assert calls == [
            "app:before_execution",
            "fn:before_execution",
            "app:before_step:one",
            "fn:before_step:one",
            "fn:after_step:one=1",
            "app:after_step:one=1",
            "fn:after_execution",
            "app:after_execution",
        ]
        calls.clear()
        [event_id] = await engine.send("go-sync")
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        assert run.status is RunStatus.COMPLETED, run.error
        # Only the app's middleware on a function that adds none of its own.
        assert calls == [
            "app:before_execution",
            "app:before_step:two",
            "app:after_step:two=2",
            "app:after_execution",
        ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_input_output_and_sent_events_are_transformed(db_url: str) -> None:
    app = stepwell.App("mw-transform")
    received: list[dict[str, Any]] = []

    @app.function("f", trigger=stepwell.on_event("go"), middleware=[Shout()])
    async def f(ctx: Context) -> dict[str, Any]:
        await ctx.step.send_event("send", stepwell.Event(name="sent", data={"n": 1}))
        return dict(ctx.event.data)

    @app.function("plain", trigger=stepwell.on_event("go"))
    async def plain(ctx: Context) -> dict[str, Any]:
        return dict(ctx.event.data)

    @app.function("sink", trigger=stepwell.on_event("sent"))
    async def sink(ctx: Context) -> None:
        received.append(dict(ctx.event.data))

    async with app.embedded(db_url, poll_interval=0.02) as engine:
        [event_id] = await engine.send("go", {"k": 1})
        runs = await engine.wait_for_runs(event_id, timeout=30)
        outputs = {r.function_id: r.output for r in runs}
        assert {"wrapped": {"k": 1, "seen_by": "shout"}} in outputs.values()
        assert {"k": 1} in outputs.values()  # the function without the middleware
        await eventually(lambda: bool(received), what="the sent event's run")
    assert received == [{"n": 1, "tagged": True}]
