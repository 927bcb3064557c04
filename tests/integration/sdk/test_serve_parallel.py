"""Parallel steps and targeted calls over HTTP (protocol.md §5.7)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import stepwell
from stepwell import Context, SyncContext
from stepwell.protocol.step_ids import hash_step_id as h
from tests.integration.sdk.serving import Executor, client_for

A, B = h("a"), h("b")


@asynccontextmanager
async def _served(app: stepwell.App) -> AsyncIterator[Callable[[str], Executor]]:
    async with client_for(stepwell.serve(app, is_dev=True)) as (url, client):
        yield lambda fn: Executor(client, f"{url}/api/inngest", f"{app.id}-{fn}")


def _counting_app() -> tuple[stepwell.App, list[str]]:
    app = stepwell.App("myapp")
    ran: list[str] = []

    def work(name: str) -> str:
        ran.append(name)
        return name.upper()

    async def slow(name: str) -> str:
        await asyncio.sleep(0)  # a body that really awaits
        return work(name)

    @app.function("par", trigger=stepwell.on_event("test/go"))
    async def par(ctx: Context) -> list[str]:
        both = await asyncio.gather(ctx.step.run("a", work, "a"), ctx.step.run("b", slow, "b"))
        after = await ctx.step.run("after", work, "after")
        return [*both, after]

    @app.function("mixed", trigger=stepwell.on_event("test/go"))
    async def mixed(ctx: Context) -> list[Any]:
        return list(
            await asyncio.gather(
                ctx.step.run("a", work, "a"),
                ctx.step.sleep("nap", "1s"),
                ctx.step.wait_for_event("w", event="test/never", timeout="1m"),
            )
        )

    @app.function("serial", trigger=stepwell.on_event("test/go"))
    def serial(ctx: SyncContext) -> list[str]:
        return [ctx.step.run("a", work, "a"), ctx.step.run("b", work, "b")]

    return app, ran


async def test_gathered_steps_are_planned_without_running_them() -> None:
    app, ran = _counting_app()
    async with _served(app) as fn:
        reply = await fn("par").call()
    assert reply.status_code == 206
    assert reply.json() == [
        {"op": "StepPlanned", "id": A, "name": "a", "displayName": "a", "opts": None, "data": None},
        {"op": "StepPlanned", "id": B, "name": "b", "displayName": "b", "opts": None, "data": None},
    ]
    assert ran == []


async def test_a_targeted_call_runs_only_the_targeted_step() -> None:
    app, ran = _counting_app()
    async with _served(app) as fn:
        only_b = await fn("par").call(step=B, die=True)
        only_a = await fn("par").call({B: {"data": "B"}}, step=A, die=True)
    assert [(op["op"], op["id"], op["data"]) for op in only_b.json()] == [("StepRun", B, "B")]
    assert [(op["op"], op["id"], op["data"]) for op in only_a.json()] == [("StepRun", A, "A")]
    assert ran == ["b", "a"]


async def test_after_the_group_a_lone_step_runs_inline_unless_told_to_plan() -> None:
    app, ran = _counting_app()
    memo = {A: {"data": "A"}, B: {"data": "B"}}
    async with _served(app) as fn:
        planned = await fn("par").call(memo, die=True)
        inline = await fn("par").call(memo)
    assert [(op["op"], op["id"]) for op in planned.json()] == [("StepPlanned", h("after"))]
    assert [(op["op"], op["data"]) for op in inline.json()] == [("StepRun", "AFTER")]
    assert ran == ["after"]


async def test_a_step_found_beside_other_ops_is_planned_next_to_them() -> None:
    app, ran = _counting_app()
    async with _served(app) as fn:
        reply = await fn("mixed").call()
    ops = reply.json()
    assert [(op["op"], op["id"]) for op in ops] == [
        ("StepPlanned", A),
        ("Sleep", h("nap")),
        ("WaitForEvent", h("w")),
    ]
    assert ran == []


async def test_a_targeted_step_that_is_never_reached_is_a_retriable_error() -> None:
    app, ran = _counting_app()
    async with _served(app) as fn:
        reply = await fn("serial").call(step=B, die=True)  # "a" comes first and is not stored
    assert reply.status_code == 500
    assert reply.json()["code"] == "step_unexpected"
    assert reply.json()["message"] == 'found step "a" when targeting a different step'
    assert "x-inngest-no-retry" not in reply.headers
    assert ran == []


async def test_sync_functions_plan_when_told_and_otherwise_run_inline() -> None:
    app, ran = _counting_app()
    async with _served(app) as fn:
        planned = await fn("serial").call(die=True)
        inline = await fn("serial").call()
        targeted = await fn("serial").call({A: {"data": "A"}}, step=B, die=True)
    assert [(op["op"], op["id"]) for op in planned.json()] == [("StepPlanned", A)]
    assert [(op["op"], op["data"]) for op in inline.json()] == [("StepRun", "A")]
    assert [(op["op"], op["data"]) for op in targeted.json()] == [("StepRun", "B")]
    assert ran == ["a", "b"]


async def test_driven_to_the_end_like_a_server_each_body_runs_once() -> None:
    app, ran = _counting_app()
    flaky_calls: list[int] = []

    def flaky() -> str:
        flaky_calls.append(1)
        if len(flaky_calls) < 3:
            raise RuntimeError("not yet")
        return "ok"

    @app.function("retrying", trigger=stepwell.on_event("test/go"))
    async def retrying(ctx: Context) -> list[str]:
        pair = await asyncio.gather(ctx.step.run("x", flaky), ctx.step.run("y", lambda: "y"))
        return list(pair)

    async with _served(app) as fn:
        par = await fn("par").drive()
        mixed = await fn("mixed").drive()
        serial = await fn("serial").drive()
        retried = await fn("retrying").drive()
    assert par.json() == ["A", "B", "AFTER"]
    assert mixed.json() == ["A", None, None]
    assert serial.json() == ["A", "B"]
    assert retried.json() == ["ok", "y"]
    assert sorted(ran) == sorted(["a", "b", "after", "a", "a", "b"])
    assert len(flaky_calls) == 3
