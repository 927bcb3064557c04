"""The step tools over HTTP: our SDK app served with ``stepwell.serve`` on loopback, synced to
our server running as a process (dev mode), runs ``step.fetch`` and ``step.ai.infer`` (against
a loopback stand-in), ``wait_for_signal`` resumed by ``POST /v1/signals``, ``send_signal``,
and ``ctx.group.parallel`` (all and race). A race's winner stays the same on replay."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

import stepwell
from stepwell import Context, SyncContext
from stepwell.protocol.step_ids import hash_step_id
from tests.integration.sdk.serving import serving
from tests.integration.sdk.test_serve_with_server import _server
from tests.integration.sdk.test_step_tools_embedded import StandIn, adapters, stand_in
from tests.waiting import eventually

__all__ = ["served_stack", "stand_in"]


@asynccontextmanager
async def served_stack(
    tmp_path: Path, app: stepwell.App, *, checkpoint: bool | None = None
) -> AsyncIterator[str]:
    """Our server as a process (dev mode) and ``app`` served in this loop, synced: its URL."""
    with _server(tmp_path, signed=False) as server:
        served = stepwell.serve(app, is_dev=True, base_url=server, checkpoint=checkpoint)
        async with serving(served) as app_url, httpx.AsyncClient(timeout=30) as client:

            async def healthy() -> bool:
                try:
                    return (await client.get(f"{server}/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(healthy, timeout=90, what="the server to start")  # a loaded machine
            synced = await client.put(f"{app_url}/api/inngest")
            assert synced.status_code == 200, synced.text
            yield server


def stored_steps(db: Path, run_id: str) -> list[str]:
    """The hashed ids of the steps a server has stored for a run, in the order it stored them."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT step_hash FROM steps WHERE run_id = ? ORDER BY rowid", (run_id,)
        ).fetchall()
    return [row[0] for row in rows]


def race_app(order: list[str], server_db: Path | None = None) -> tuple[stepwell.App, Any]:
    """A race whose second branch stores first: it must still win after the replay. Over
    HTTP (``server_db``) the slow branch also waits until the server has *stored* the quick
    one: answering first does not mean being stored first."""
    app = stepwell.App("racing")
    first_done = asyncio.Event()

    @app.function("race", trigger=stepwell.on_event("race/go"))
    async def race(ctx: Context) -> Any:
        async def slow() -> str:
            await first_done.wait()  # stored only after the other branch
            if server_db is not None:
                await eventually(
                    lambda: hash_step_id("quick") in stored_steps(server_db, ctx.run_id),
                    timeout=30,
                    what="the quick branch to be stored",
                )
            order.append("slow")
            return "slow"

        def quick() -> str:
            order.append("quick")
            first_done.set()
            return "quick"

        winner = await ctx.group.parallel(
            [lambda: ctx.step.run("slow", slow), lambda: ctx.step.run("quick", quick)],
            mode="race",
        )
        await ctx.step.sleep("nap", "10ms")  # a replay: both results come from the memo
        return winner

    return app, first_done


def http_tools_app(base: str) -> stepwell.App:
    app = stepwell.App("http-tools")
    openai = adapters(base)[0]
    chat = {"messages": [{"role": "user", "content": "hi"}]}

    @app.function("tools", trigger=stepwell.on_event("tools/go"))
    async def tools(ctx: Context) -> dict[str, Any]:
        got = await ctx.step.fetch("get", f"{base}/echo", method="POST", body={"a": 1})
        o = await ctx.step.ai.infer("o", adapter=openai, body=chat)
        both = await ctx.group.parallel(
            [lambda: ctx.step.run("x", lambda: 1), lambda: ctx.step.run("y", lambda: 2)]
        )
        first = await ctx.group.parallel(
            [lambda: ctx.step.run("r1", lambda: "r1"), lambda: ctx.step.run("r2", lambda: "r2")],
            mode="race",
        )
        # The race is the last step: its slower branch's call still runs when the SDK, replayed
        # with the winner stored, runs that branch inline (once hung the run over HTTP).
        return {
            "status": got.status,
            "text": got.text,
            "o": o["choices"][0]["message"]["content"],
            "both": both,
            "first": first,
        }

    @app.function("sync-tools", trigger=stepwell.on_event("tools/sync"))
    def sync_tools(ctx: SyncContext) -> dict[str, Any]:
        got = ctx.step.fetch("get", f"{base}/echo")
        o = ctx.step.ai.infer("o", adapter=openai, body=chat)
        both = ctx.group.parallel([lambda: ctx.step.run("x", lambda: 1), lambda: 2])
        return {"status": got.status, "o": o["choices"][0]["message"]["content"], "both": both}

    @app.function("waiter", trigger=stepwell.on_event("sig/wait"))
    async def waiter(ctx: Context) -> Any:
        return await ctx.step.wait_for_signal("w", signal=ctx.event.data["signal"], timeout="1h")

    @app.function("sync-waiter", trigger=stepwell.on_event("sig/sync-wait"))
    def sync_waiter(ctx: SyncContext) -> Any:
        return ctx.step.wait_for_signal("w", signal=ctx.event.data["signal"], timeout="1h")

    @app.function("sender", trigger=stepwell.on_event("sig/send"))
    async def sender(ctx: Context) -> Any:
        got = await ctx.step.send_signal("send", signal="by-step", data={"from": "step"})
        await ctx.step.sleep("nap", "10ms")  # a replay: not sent again
        return got

    @app.function("sync-sender", trigger=stepwell.on_event("sig/sync-send"))
    def sync_sender(ctx: SyncContext) -> Any:
        return ctx.step.send_signal("send", signal="by-sync-step", data=[1])

    return app


async def _send(client: httpx.AsyncClient, server: str, name: str, data: Any) -> str:
    sent = await client.post(f"{server}/e/key", json={"name": name, "data": data})
    [event_id] = sent.json()["ids"]
    return str(event_id)


async def _run(client: httpx.AsyncClient, server: str, event_id: str) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []

    async def ended() -> bool:
        reply = await client.get(f"{server}/v1/events/{event_id}/runs")
        runs[:] = reply.json()["data"]
        return bool(runs) and runs[0]["status"] in ("Completed", "Failed", "Cancelled")

    await eventually(ended, timeout=30, what=f"the run of event {event_id} to end")
    return runs[0]


async def _waiting(client: httpx.AsyncClient, server: str, event_id: str, db: Path) -> str:
    """The run of ``event_id`` once its wait is stored (a signal sent before would find no
    waiter; Running alone can be before the wait): its id."""
    runs: list[dict[str, Any]] = []

    async def running() -> bool:
        runs[:] = (await client.get(f"{server}/v1/events/{event_id}/runs")).json()["data"]
        return bool(runs) and runs[0]["status"] == "Running" and _paused(db, runs[0]["run_id"])

    await eventually(running, timeout=30, what="the waiter to start")
    return str(runs[0]["run_id"])


def _paused(db: Path, run_id: str) -> bool:
    with contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT 1 FROM pauses WHERE run_id = ?", (run_id,)).fetchall()
    return bool(rows)


async def _signal(client: httpx.AsyncClient, server: str, signal: str, data: Any) -> str:
    found: list[str] = []

    async def delivered() -> bool:
        reply = await client.post(f"{server}/v1/signals", json={"signal": signal, "data": data})
        if reply.status_code == 200:
            found.append(reply.json()["data"]["run_id"])
        return bool(found)

    await eventually(delivered, timeout=30, what=f"a waiter for {signal}")
    return found[0]


async def test_step_tools_over_http(tmp_path: Path, stand_in: tuple[StandIn, str]) -> None:
    fake, base = stand_in
    db = tmp_path / "server.db"  # where served_stack's server keeps its state
    async with (
        served_stack(tmp_path, http_tools_app(base)) as server,
        httpx.AsyncClient(timeout=30) as client,
    ):
        tools = await _run(client, server, await _send(client, server, "tools/go", {}))
        assert tools["status"] == "Completed", tools
        output = tools["output"]
        assert output.pop("first") in ("r1", "r2")  # whichever the server stored first
        assert output == {
            "status": 201,
            "text": 'POST  {"a":1}',
            "o": "openai:gpt-x:hi",
            "both": [1, 2],
        }
        synced = await _run(client, server, await _send(client, server, "tools/sync", {}))
        assert synced["output"] == {"status": 201, "o": "openai:gpt-x:hi", "both": [1, 2]}
        # Each request was made once, though the functions were called again after each.
        assert fake.calls == ["echo", "openai", "echo", "openai"]

        # wait_for_signal, resumed through the REST API.
        waits = [await _send(client, server, "sig/wait", {"signal": "rest"})]
        waits.append(await _send(client, server, "sig/sync-wait", {"signal": "rest-sync"}))
        first_waiter = await _waiting(client, server, waits[0], db)
        assert await _signal(client, server, "rest", {"ok": 1}) == first_waiter
        assert await _signal(client, server, "rest-sync", "yes")
        assert (await _run(client, server, waits[0]))["output"] == {"ok": 1}
        assert (await _run(client, server, waits[1]))["output"] == "yes"

        # send_signal from a step: delivered once, its result the waiter's run id.
        by_step = await _send(client, server, "sig/wait", {"signal": "by-step"})
        by_sync = await _send(client, server, "sig/sync-wait", {"signal": "by-sync-step"})
        waiter_id, sync_waiter_id = [
            await _waiting(client, server, e, db) for e in (by_step, by_sync)
        ]
        sender = await _run(client, server, await _send(client, server, "sig/send", {}))
        sync_sender = await _run(client, server, await _send(client, server, "sig/sync-send", {}))
        assert sender["output"] == waiter_id
        assert sync_sender["output"] == sync_waiter_id
        assert (await _run(client, server, by_step))["output"] == {"from": "step"}
        assert (await _run(client, server, by_sync))["output"] == [1]


async def test_a_race_keeps_its_winner_on_replay_over_http(tmp_path: Path) -> None:
    order: list[str] = []
    app, _ = race_app(order, server_db=tmp_path / "server.db")
    async with served_stack(tmp_path, app) as server, httpx.AsyncClient(timeout=30) as client:
        run = await _run(client, server, await _send(client, server, "race/go", {}))
    assert run["status"] == "Completed", run
    assert run["output"] == "quick"
    assert order == ["quick", "slow"]


async def test_a_race_keeps_its_winner_on_replay_in_process(sqlite_url: str) -> None:
    order: list[str] = []
    app, _ = race_app(order)
    async with app.embedded(sqlite_url, poll_interval=0.02) as engine:
        [event_id] = await engine.send("race/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
    assert run.status is stepwell.RunStatus.COMPLETED, run.error
    assert run.output == "quick"
    assert order == ["quick", "slow"]
