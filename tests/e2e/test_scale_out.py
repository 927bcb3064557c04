"""Scale-out (issue 5): three ``stepwell start`` processes on one PostgreSQL database.

1,000 runs of a 10-step function are sent across them; one process is killed with SIGKILL
mid-flight and another one added. Every run completes, no event is lost, no step whose result
was stored before the kill runs again (steps run twice only in the runs the killed process was
calling), a concurrency limit of 5 holds across the processes, and a cron function fires once
per tick. The app checkpoints (the default) to the first process, which forwards to the caller.
"""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from stepwell.core.runs import RunStatus
from stepwell.protocol import signing
from stepwell.protocol.step_ids import hash_step_id
from stepwell.store import open_store
from tests.e2e.harness import APPS_DIR, LOOPBACK, ManagedProcess, free_port, wait_until

# Its own waits are bounded (60 s per sync, 120 s to a quarter, 240 s to the end): the test's
# timeout must not cut them short on a loaded machine (40 s alone, 113-119 s beside other runs).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

KEY = "signkey-test-" + "5ca1e0" * 10 + "abcd"
EVENT_KEY = "scale-events"
RUNS = 1000
STEPS = 10
LIMIT = 5


def _server(work: Path, name: str, port: int, database: str, app_url: str) -> ManagedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
    return ManagedProcess.start(
        name,
        [
            sys.executable,
            "-m",
            "stepwell",
            "start",
            "--port",
            str(port),
            "--database",
            database,
            "--signing-key",
            KEY,
            "--event-key",
            EVENT_KEY,
            "-u",
            app_url,
            "--poll-interval",
            "1",
            "--retry-interval",
            "0.2",
            "--lease",
            "3",
        ],
        env=env,
        cwd=work,
        log_path=work / f"{name}.log",
    )


def _bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {signing.hashed_key(KEY)}"}


async def _snapshot(database: str) -> dict[str, set[str]]:
    """The steps stored so far, per run (what a killed process had committed)."""
    store = open_store(database)
    await store.open()
    try:
        runs = await store.list_runs(function_id="scale-ten", limit=10 * RUNS)
        return {run.run_id: set(await store.load_memo(run.run_id)) for run in runs}
    finally:
        await store.close()


async def _runs(database: str) -> list[Any]:
    store = open_store(database)
    await store.open()
    try:
        return await store.list_runs(function_id="scale-ten", limit=10 * RUNS)
    finally:
        await store.close()


def test_three_processes_one_database(pg_url: str, tmp_path: Path) -> None:
    app_port = free_port()
    ports = [free_port() for _ in range(4)]
    first = f"http://{LOOPBACK}:{ports[0]}"
    app_url = f"http://{LOOPBACK}:{app_port}/api/inngest"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
    app = ManagedProcess.start(
        "scale app",
        [sys.executable, str(APPS_DIR / "scale_app.py"), "--port", str(app_port)],
        env={
            **env,
            "INNGEST_SIGNING_KEY": KEY,
            "INNGEST_EVENT_KEY": EVENT_KEY,
            "INNGEST_BASE_URL": first,
            "PYTHONPATH": str(Path(__file__).parents[2]),
        },
        cwd=tmp_path,
        log_path=tmp_path / "app.log",
    )
    servers = [_server(tmp_path, f"server{i}", ports[i], pg_url, app_url) for i in range(3)]
    everyone = [app, *servers]
    try:

        def synced(port: int) -> bool:
            for process in everyone:
                process.check_alive()
            try:
                found = httpx.get(
                    f"http://{LOOPBACK}:{port}/v1/apps/scale/functions", headers=_bearer()
                )
            except httpx.TransportError:
                return False
            return found.status_code == 200 and len(found.json()["data"]["functions"]) == 2

        def describe() -> str:
            return "".join(process.describe() for process in everyone)

        for port in ports[:3]:
            wait_until(
                functools.partial(synced, port),
                timeout=60,
                what=f"sync on :{port}",
                context=describe,
            )

        # Send the events across the three processes, in batches of 50.
        sent: list[str] = []
        for batch in range(RUNS // 50):
            port = ports[batch % 3]
            events = [{"name": "scale/go", "data": {"n": batch * 50 + i}} for i in range(50)]
            response = httpx.post(f"http://{LOOPBACK}:{port}/e/{EVENT_KEY}", json=events)
            assert response.status_code == 200, response.text
            sent.extend(response.json()["ids"])
        assert len(set(sent)) == RUNS

        def executed() -> int:
            return len(httpx.get(f"http://{LOOPBACK}:{app_port}/stats").json()["executions"])

        wait_until(lambda: executed() > RUNS * STEPS // 4, timeout=120, what="a quarter done")
        victim = servers[1]
        os.kill(victim.popen.pid, signal.SIGKILL)
        victim.popen.wait(10)
        committed = asyncio.run(_snapshot(pg_url))
        # Everything in the snapshot was stored by now; the live processes kept working
        # meanwhile, so only a run of one of those steps that starts later is a repeat.
        snapshot_at = time.time()
        servers.append(_server(tmp_path, "server3", ports[3], pg_url, app_url))
        everyone.append(servers[-1])

        def all_done() -> bool:
            for process in (app, servers[0], servers[2], servers[3]):
                process.check_alive()
            runs = asyncio.run(_runs(pg_url))
            return len(runs) == RUNS and all(r.status.is_terminal for r in runs)

        wait_until(
            all_done,
            timeout=240,
            what="every run to end",
            context=describe,
        )
        runs = asyncio.run(_runs(pg_url))
        stats = httpx.get(f"http://{LOOPBACK}:{app_port}/stats").json()

        # Every run completed, with its own event's output: no event lost, none run twice.
        assert Counter(r.status for r in runs) == {RunStatus.COMPLETED: RUNS}
        assert sorted(r.output[0] for r in runs) == list(range(RUNS))
        assert {r.output[1] for r in runs} == {sum(range(STEPS))}

        # No step that was stored (at the kill, or by then) ran again afterwards.
        hashes = {f"s{i}": hash_step_id(f"s{i}") for i in range(STEPS)}
        again = [
            (run_id, step)
            for run_id, step, started in stats["executions"]
            if started > snapshot_at and hashes[step] in committed.get(run_id, set())
        ]
        assert again == []
        done = Counter((run_id, step) for run_id, step, _ in stats["executions"])
        assert len(done) == RUNS * STEPS  # every step of every run ran
        # Steps ran twice only in runs whose call the killed process was making (at most
        # LIMIT at once): the step under way, and those whose checkpoint it had not yet
        # acknowledged. The app's call stops once its caller hangs up.
        repeated = {run_id for (run_id, _), count in done.items() if count > 1}
        print(f"steps run twice: {sum(done.values()) - RUNS * STEPS}, in {len(repeated)} runs")
        assert len(repeated) <= LIMIT, sorted(repeated)
        # The limit held across all processes: never more than 5 step bodies at once.
        print(f"most step bodies in flight at once: {stats['most_in_flight']}")
        assert stats["most_in_flight"] <= LIMIT

        # A cron tick seen by four processes fires once.
        wait_until(
            lambda: len(httpx.get(f"http://{LOOPBACK}:{app_port}/stats").json()["ticks"]) >= 1,
            timeout=75,
            what="a cron tick",
        )
        ticks = httpx.get(f"http://{LOOPBACK}:{app_port}/stats").json()["ticks"]
        assert len(ticks) == len(set(ticks)), ticks
    finally:
        for process in reversed(everyone):
            process.stop()
