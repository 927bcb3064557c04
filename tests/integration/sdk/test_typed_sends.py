"""A step that sends a typed event as a plain dict is checked like ``engine.send``: data that
does not fit the declared ``EventData`` is refused at the call, before anything is stored,
embedded and over HTTP alike. Sends of untyped names are not touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

import stepwell
from stepwell import Context
from tests.integration.sdk.test_step_tools_http import _run, _send, served_stack


class Placed(stepwell.EventData, name="typed-sends/placed"):
    order_id: int


def _app(started: list[int]) -> stepwell.App:
    app = stepwell.App("typed-sends")

    @app.function("on-placed", trigger=stepwell.on_event(Placed))
    async def on_placed(ctx: Context[Placed]) -> int:
        started.append(ctx.event.data.order_id)
        return ctx.event.data.order_id

    @app.function("sender", trigger=stepwell.on_event("typed-sends/go"), retries=0)
    async def sender(ctx: Context) -> dict[str, Any]:
        good = await ctx.step.send_event(
            "good", [{"name": "typed-sends/placed", "data": {"order_id": 1}}]
        )
        untyped = await ctx.step.send_event("untyped", {"name": "elsewhere", "data": {"x": "y"}})
        refused: str | None = None
        try:
            await ctx.step.send_event(
                "bad", {"name": "typed-sends/placed", "data": {"order_id": "x"}}
            )
        except stepwell.InvalidEventError as exc:
            refused = str(exc)
        return {"good": len(good), "untyped": len(untyped), "refused": refused}

    return app


def _check_refusal(output: dict[str, Any]) -> None:
    assert output["good"] == 1
    assert output["untyped"] == 1
    refused = output["refused"]
    assert refused.startswith("event 0: data does not match Placed")
    assert "order_id" in refused  # Pydantic's message names the field


async def test_a_steps_typed_send_is_checked_embedded(tmp_path: Path) -> None:
    started: list[int] = []
    app = _app(started)
    async with app.embedded(f"sqlite:///{tmp_path / 'sends.db'}") as engine:
        [event_id] = await engine.send(stepwell.Event(name="typed-sends/go", data={}))
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        assert run.status is stepwell.RunStatus.COMPLETED, run.error
        _check_refusal(run.output)
        events = await engine.history.list_events(name="typed-sends/placed")
    # Only the good event was stored: the refused one never reached the store.
    assert [e.event.data for e in events] == [{"order_id": 1}]


async def test_a_steps_typed_send_is_checked_over_http(tmp_path: Path) -> None:
    started: list[int] = []
    async with (
        served_stack(tmp_path, _app(started)) as server,
        httpx.AsyncClient(timeout=30) as client,
    ):
        event_id = await _send(client, server, "typed-sends/go", {})
        run = await _run(client, server, event_id)
        assert run["status"] == "Completed", run["output"]
        _check_refusal(run["output"])
        listed = await client.get(f"{server}/v1/events", params={"name": "typed-sends/placed"})
        sent = [e for e in listed.json()["data"] if e["name"] == "typed-sends/placed"]
    assert [e["data"] for e in sent] == [{"order_id": 1}]


async def test_a_send_the_server_refused_replays_as_a_step_error(tmp_path: Path) -> None:
    # Over HTTP our SDK sends a step's events itself; a refusal is stored as the step's error,
    # and every later replay must raise it again as a StepError (not read it as ids).
    app = stepwell.App("refused-sends")

    @app.function("sender", trigger=stepwell.on_event("refused-sends/go"), retries=0)
    async def sender(ctx: Context) -> str:
        try:
            await ctx.step.send_event("nameless", {"name": "", "data": {}})
        except stepwell.StepError as exc:
            caught = exc.step_id
        return await ctx.step.run("after", lambda: f"caught {caught}")

    async with served_stack(tmp_path, app) as server, httpx.AsyncClient(timeout=30) as client:
        run = await _run(client, server, await _send(client, server, "refused-sends/go", {}))
    assert run["status"] == "Completed", run["output"]
    assert run["output"] == "caught nameless"
