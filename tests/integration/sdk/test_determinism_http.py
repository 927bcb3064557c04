"""Non-determinism over HTTP: our SDK app served with ``stepwell.serve`` and driven by our
server as a process (dev mode). A replay that reaches a new step of any kind that yields to the
server (sleep, waits, invoke, fetch, ai.infer) while a stored step is left unreached fails the
run for good, naming both steps; with ``strict_determinism=False`` it warns and goes on.
Parallel steps stored in another order than the code reaches them are not a divergence."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

import stepwell
from stepwell import Context, SyncContext
from stepwell.protocol.step_ids import hash_step_id as h
from tests.integration.sdk.test_step_tools_embedded import StandIn, adapters
from tests.integration.sdk.test_step_tools_http import _run, _send, served_stack, stand_in
from tests.waiting import eventually

__all__ = ["stand_in"]

KINDS = ("sleep", "wait_for_event", "wait_for_signal", "invoke", "fetch", "ai.infer")
CHAT = {"messages": [{"role": "user", "content": "hi"}]}


def _new_step(step: Any, kind: str, base: str, run_id: str) -> Any:
    """The step of ``kind`` a replay reaches new: an awaitable from ``Context.step``, the
    value itself from ``SyncContext.step``."""
    name = f"new {kind}"
    if kind == "sleep":
        return step.sleep(name, "10ms")
    if kind == "wait_for_event":
        return step.wait_for_event(name, event="drift/never", timeout="10ms")
    if kind == "wait_for_signal":  # one waiter per signal: each run waits for its own
        return step.wait_for_signal(name, signal=f"drift-{run_id}", timeout="10ms")
    if kind == "invoke":
        return step.invoke(name, function="drift-child", data={})
    if kind == "fetch":
        return step.fetch(name, f"{base}/echo")
    assert kind == "ai.infer"
    return step.ai.infer(name, adapter=adapters(base)[0], body=CHAT)


def drift_app(kind: str, base: str) -> tuple[stepwell.App, dict[str, int]]:
    """Functions whose first execution stores a step that later executions skip (the counter
    stands for state that moves on between executions), then reach a new ``kind`` step."""
    app = stepwell.App("drift")
    executions = {"strict": 0, "sync-strict": 0, "lenient": 0}

    @app.function("strict", trigger=stepwell.on_event("drift/strict"), retries=3)
    async def strict(ctx: Context) -> str:
        executions["strict"] += 1
        if executions["strict"] == 1:
            await ctx.step.run("old path", lambda: "stored")
        await _new_step(ctx.step, kind, base, ctx.run_id)
        return "done"

    @app.function("sync-strict", trigger=stepwell.on_event("drift/sync-strict"), retries=3)
    def sync_strict(ctx: SyncContext) -> str:
        executions["sync-strict"] += 1
        if executions["sync-strict"] == 1:
            ctx.step.run("old path", lambda: "stored")
        _new_step(ctx.step, kind, base, ctx.run_id)
        return "done"

    @app.function("lenient", trigger=stepwell.on_event("drift/lenient"), strict_determinism=False)
    async def lenient(ctx: Context) -> str:
        executions["lenient"] += 1
        if executions["lenient"] == 1:
            await ctx.step.run("old path", lambda: "stored")
        await _new_step(ctx.step, kind, base, ctx.run_id)
        return "done"

    @app.function("child", trigger=stepwell.on_event("drift/child"))
    async def child(ctx: Context) -> int:
        return 7

    return app, executions


@pytest.mark.parametrize("kind", KINDS)
async def test_a_replay_reaching_a_new_step_of_any_kind_fails_the_run(
    kind: str,
    tmp_path: Path,
    stand_in: tuple[StandIn, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, base = stand_in
    app, executions = drift_app(kind, base)
    # One step per call: the first call ends after "old path", so the second one replays
    # (with checkpointing "old path" and the new step share the first call: nothing drifts).
    served = served_stack(tmp_path, app, checkpoint=False)
    async with served as server, httpx.AsyncClient(timeout=30) as client:
        for name in ("strict", "sync-strict"):
            run = await _run(client, server, await _send(client, server, f"drift/{name}", {}))
            assert run["status"] == "Failed", run
            error = run["output"]  # a failed run reports its error there, as Inngest does
            assert error["name"] == "NonDeterminismError", error
            assert f"new step 'new {kind}'" in error["message"], error
            assert "stored step 'old path' was never reached" in error["message"], error
            # Failed for good at the first replay: the retries it has were not spent.
            assert executions[name] == 2, executions

        with caplog.at_level(logging.WARNING, logger="stepwell.determinism"):
            run = await _run(client, server, await _send(client, server, "drift/lenient", {}))
        assert run["status"] == "Completed", run
        assert run["output"] == "done"
    warnings = [r.getMessage() for r in caplog.records if r.name == "stepwell.determinism"]
    assert any(f"'new {kind}'" in w and "'old path'" in w for w in warnings), warnings


def _stored(db: Path, run_id: str) -> list[str]:
    """The steps the server has stored for a run, in the order it stored them."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT step_hash FROM steps WHERE run_id = ? ORDER BY rowid", (run_id,)
        ).fetchall()
    return [row[0] for row in rows]


def parallel_app(db: Path) -> stepwell.App:
    """Two steps run together, the one the event names stored first, with a sleep beside
    them; then a wait beside a step that fails once and a step that does not. The calls after
    the first group replay its steps in another order than the memo's; the retry of the
    failed step reaches the pending wait (new) before the stored step beside it."""
    app = stepwell.App("drift-parallel")
    failed: set[str] = set()

    @app.function("par", trigger=stepwell.on_event("drift/par"), retries=2)
    async def par(ctx: Context) -> list[Any]:
        first = ctx.event.data["first"]

        async def body(name: str) -> str:
            if name != first:  # answered only once the server has stored the other step
                await eventually(
                    lambda: h(first) in _stored(db, ctx.run_id),
                    timeout=30,
                    what=f"step {first!r} to be stored",
                )
            return name

        def flaky() -> str:
            if ctx.run_id not in failed:
                failed.add(ctx.run_id)
                raise RuntimeError("the first attempt fails")
            return "flaky"

        both = await asyncio.gather(
            ctx.step.run("a", body, "a"),
            ctx.step.run("b", body, "b"),
            ctx.step.sleep("nap", "10ms"),
        )
        more = await asyncio.gather(
            # Outlasts the retry (0.1s apart on this server), which thus finds it pending.
            ctx.step.wait_for_event("w", event="drift/never", timeout="2s"),
            ctx.step.run("flaky", flaky),
            ctx.step.run("ok", lambda: "ok"),
        )
        return [*both, *more]

    return app


async def test_parallel_steps_stored_in_either_order_are_not_a_divergence(
    tmp_path: Path,
) -> None:
    db = tmp_path / "server.db"  # where the server started by ``served_stack`` keeps its state
    async with (
        served_stack(tmp_path, parallel_app(db)) as server,
        httpx.AsyncClient(timeout=30) as client,
    ):
        sent = {f: await _send(client, server, "drift/par", {"first": f}) for f in ("b", "a")}
        ended = await asyncio.gather(*(_run(client, server, e) for e in sent.values()))
        runs = dict(zip(sent, ended, strict=True))
    for first, run in runs.items():
        assert run["status"] == "Completed", run
        assert run["output"] == ["a", "b", None, None, "flaky", "ok"]
        # The replays after the group met the two steps stored in the order asked for.
        stored = _stored(db, run["run_id"])
        second = "a" if first == "b" else "b"
        assert stored.index(h(first)) < stored.index(h(second)), stored
