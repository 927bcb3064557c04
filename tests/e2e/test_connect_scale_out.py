"""Connect across two server processes on one PostgreSQL database.

Two ``stepwell dev`` processes share a database; an official-SDK worker
(``apps/py_connect_worker.py``) dials in to only one of them (``b``). Runs triggered through the
other (``a``) complete: their calls reach the worker through the database (a row of
``connect_forwards`` named by a NOTIFY), whichever process executes them. Then ``b`` is killed
(SIGKILL) while the worker runs a step; a worker connected to ``a`` takes over and the run
completes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.harness import (
    APPS_DIR,
    LOOPBACK,
    RUN_TIMEOUT,
    STARTUP_TIMEOUT,
    ManagedProcess,
    StepwellDev,
    _sdk_env,
    as_list,
    as_obj,
    free_port,
    wait_until,
)

pytestmark = [pytest.mark.timeout(300)]

WORKER = APPS_DIR / "py_connect_worker.py"
SRC = Path(__file__).resolve().parents[2] / "src"


def _dev(workdir: Path, name: str, database: str) -> StepwellDev:
    port, gateway = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
    env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"})
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    argv = [
        *(sys.executable, "-m", "stepwell", "dev", "--host", LOOPBACK, "--port", str(port)),
        *("--connect-port", str(gateway), "--connect-lease", "4", "--connect-heartbeat", "1"),
        *("--database", database, "--retry-interval", "1", "--poll-interval", "1"),
        *("--lease", "3", "--no-discovery"),
    ]
    process = ManagedProcess.start(
        f"stepwell dev {name}", argv, env=env, cwd=workdir, log_path=workdir / f"{name}.log"
    )
    dev = StepwellDev(process, f"http://{LOOPBACK}:{port}")

    def healthy() -> bool:
        process.check_alive()
        try:
            return dev.http.get("/health").status_code == 200
        except httpx.TransportError:
            return False

    wait_until(healthy, timeout=STARTUP_TIMEOUT, what=f"{name} to answer /health")
    return dev


def _worker(workdir: Path, dev: StepwellDev, name: str) -> ManagedProcess:
    env = {**_sdk_env(dev.url), "WORKER_NAME": name, "NOTES_PATH": str(workdir / "notes.jsonl")}
    process = ManagedProcess.start(
        f"worker {name}",
        [sys.executable, str(WORKER)],
        env=env,
        cwd=APPS_DIR,
        log_path=workdir / f"worker-{name}.log",
    )

    def ready() -> bool:
        process.check_alive()
        data = as_obj(dev.http.get("/v0/connect/workers").json()).get("data")
        workers = [as_obj(item) for item in as_list(data)]
        return any(w["instance_id"] == name and w["status"] == "READY" for w in workers)

    wait_until(ready, timeout=STARTUP_TIMEOUT, what=f"worker {name} to be ready")
    return process


def _notes(workdir: Path, run_id: str) -> list[dict[str, object]]:
    path = workdir / "notes.jsonl"
    if not path.exists():
        return []
    notes = [as_obj(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
    return [n for n in notes if n["run_id"] == run_id]


def _forwarded(database: str) -> int:
    """How many requests were forwarded between the processes (rows ever inserted)."""
    with psycopg.connect(database, autocommit=True) as conn:
        row = conn.execute(
            "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'connect_forwards'"
        ).fetchone()
    return int(row[0]) if row else 0


def test_runs_reach_a_worker_on_another_process_and_survive_its_death(
    pg_url: str, tmp_path: Path
) -> None:
    a = _dev(tmp_path, "a", pg_url)
    b = _dev(tmp_path, "b", pg_url)
    processes = [a.process, b.process]
    try:
        processes.append(_worker(tmp_path, b, "wb"))
        # a takes the app in from the database (its sync pass, every second).
        wait_until(
            lambda: "connapp-hello" in a.function_slugs(),
            timeout=STARTUP_TIMEOUT,
            what="a to know the worker's functions",
        )

        # Runs triggered through a, which holds no socket: every one completes on b's worker.
        ids = a.send([{"name": "conn/hello", "data": {"name": f"n{i}"}} for i in range(6)])
        runs = [a.wait_for_run(event_id) for event_id in ids]
        assert [run.status for run in runs] == ["Completed"] * 6, runs
        assert {as_obj(run.output)["worker"] for run in runs} == {"wb"}
        # Some of them executed on a, their calls forwarded through the database.
        wait_until(lambda: _forwarded(pg_url) > 0, timeout=30, what="a forwarded call")

        # b dies (SIGKILL) while its worker runs a long step; a worker on a takes over.
        event_id = a.send_one("conn/slow", {"seconds": 4})
        run_id = a.wait_for_run_started(event_id).run_id
        wait_until(
            lambda: any(n["what"] == "long:start" for n in _notes(tmp_path, run_id)),
            timeout=RUN_TIMEOUT,
            what="the long step to start on wb",
        )
        os.killpg(b.process.popen.pid, signal.SIGKILL)
        os.killpg(processes[2].popen.pid, signal.SIGKILL)  # wb would only try b again
        b.process.popen.wait(10)
        processes[2].popen.wait(10)
        processes.append(_worker(tmp_path, a, "wa"))
        run = a.wait_for_run(event_id)
        assert run.status == "Completed", run.output
        assert as_obj(run.output) == {"long": "wa", "after": "wa"}
        starts = [n["worker"] for n in _notes(tmp_path, run_id) if n["what"] == "long:start"]
        assert starts[0] == "wb", starts
        assert starts[-1] == "wa", starts
    finally:
        for process in reversed(processes):
            process.stop()
        a.close()
        b.close()
