"""``stepwell ui`` as a real process over an embedded engine's database, while the engine runs."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

import stepwell
from stepwell import Context
from tests.waiting import eventually

SRC = Path(__file__).resolve().parents[3] / "src"

app = stepwell.App("embedded-shop")


@app.function("pack", trigger=stepwell.on_event("shop/pack"))
async def pack(ctx: Context) -> dict[str, object]:
    box = await ctx.step.run("box", lambda: f"box-{ctx.event.data['n']}")
    return {"box": box}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def stepwell_ui(database: str, cwd: Path) -> AsyncIterator[httpx.AsyncClient]:
    """``python -m stepwell ui --database …`` on a free port; a client once ``/`` answers."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STEPWELL_", "INNGEST_"))}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "stepwell", "ui", "--database", database, "--port", str(port)),
        cwd=cwd,
        env={**env, "PYTHONPATH": str(SRC)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10.0) as client:

            async def up() -> bool:
                if process.returncode is not None:
                    output = await process.stdout.read() if process.stdout else b""
                    raise AssertionError(f"stepwell ui exited early: {output.decode()}")
                try:
                    return (await client.get("/")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, timeout=30, interval=0.1, what="stepwell ui listening")
            yield client
    finally:
        if process.returncode is None:
            process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode in (0, -signal.SIGTERM), output.decode()


async def _runs(engine: stepwell.Engine, count: int) -> list[str]:
    ids = await engine.send([stepwell.Event(name="shop/pack", data={"n": n}) for n in range(count)])
    run_ids = []
    for event_id in ids:
        [run] = await engine.wait_for_runs(event_id, timeout=20)
        assert run.status == "Completed", run
        run_ids.append(run.run_id)
    return run_ids


async def test_ui_reads_a_sqlite_file_the_engine_holds_and_is_read_only(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with app.embedded(sqlite_url) as engine:
        run_ids = await _runs(engine, 3)
        async with stepwell_ui(sqlite_url, tmp_path) as client:
            page = await client.get("/")
            assert page.status_code == 200
            for run_id in run_ids:
                assert f"/runs/{run_id}" in page.text
            assert "Read only: another process owns this SQLite file; actions are off" in page.text
            assert "Send event" not in page.text
            run = await client.get(f"/runs/{run_ids[0]}")
            assert run.status_code == 200
            assert "box" in run.text
            # The engine still owns and writes its file while the dashboard reads it.
            [later] = await _runs(engine, 1)
            assert f"/runs/{later}" in (await client.get("/")).text


async def test_ui_on_postgres_can_act(pg_url: str, tmp_path: Path) -> None:
    async with app.embedded(pg_url) as engine:
        run_ids = await _runs(engine, 2)
        async with stepwell_ui(pg_url, tmp_path) as client:
            page = await client.get("/")
            assert page.status_code == 200
            for run_id in run_ids:
                assert f"/runs/{run_id}" in page.text
            assert "Read only" not in page.text
            assert "Send event" in page.text


@app.function("nap", trigger=stepwell.on_event("shop/nap"))
async def nap(ctx: Context) -> str:
    await ctx.step.sleep("long nap", "1h")
    return "rested"


async def test_ui_on_postgres_acts_and_leaves_the_work_to_the_engine(
    pg_url: str, tmp_path: Path
) -> None:
    """A cancel from `stepwell ui` is committed there and ends the engine's sleeping run; an
    action that needs the function's code (a rerun of an embedded function the dashboard's
    process does not define) is refused with the reason, and changes nothing."""
    async with app.embedded(pg_url, poll_interval=0.05) as engine:
        [run_id] = await _runs(engine, 1)
        [nap_event] = await engine.send("shop/nap", {})

        async def sleeping() -> bool:
            runs = await engine.list_runs(event_id=nap_event)
            return bool(runs) and any(
                s.name == "long nap" for s in await engine.history.run_trace(runs[0].run_id)
            )

        await eventually(sleeping, timeout=20, what="the nap sleeps")
        [napping] = await engine.list_runs(event_id=nap_event)
        async with stepwell_ui(pg_url, tmp_path) as client:
            page = await client.get(f"/runs/{napping.run_id}")
            token = page.text.split('"X-Stepwell-Token": "')[1].split('"')[0]
            origin = {"origin": str(client.base_url).rstrip("/")}
            done = await client.post(
                f"/runs/{napping.run_id}/cancel", data={"token": token}, headers=origin
            )
            assert done.status_code == 303, done.text
            [ended] = await engine.wait_for_runs(nap_event, timeout=20)
            assert ended.status == "Cancelled"
            refused = await client.post(
                f"/runs/{run_id}/rerun", data={"token": token}, headers=origin
            )
            assert 400 <= refused.status_code < 500
            assert "embedded-shop-pack" in refused.text
            assert len(await engine.list_runs(function_id="embedded-shop-pack")) == 1
