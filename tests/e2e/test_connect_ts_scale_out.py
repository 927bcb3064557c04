"""A TypeScript Connect worker across two ``stepwell start`` processes on one PostgreSQL database.

The official TS SDK's worker (``apps/ts/connect_worker.mjs``) asks A for its connection
(``INNGEST_BASE_URL``: also where its async checkpoints go) but opens its WebSocket on B's
gateway (``INNGEST_CONNECT_GATEWAY_URL``). The process that ingests an event leases the run to
itself, so:

- runs sent to A execute on A, which holds no socket: each call goes to B through the relay, and
  the worker's checkpoints come back to A, which holds the call;
- runs sent to B execute on B, next to the socket: the checkpoints reach A, which does not hold
  the call and forwards them to B (the lease holder of the queue item the body names).

Every checkpoint taken means one call per run, each step body once. A checkpoint refused (409)
would fail the run (the SDK halts on a stale dispatch); one that errored would make the SDK
answer its steps in the call, and the run would take a second call.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import (
    LOOPBACK,
    STARTUP_TIMEOUT,
    TS_APP_DIR,
    ManagedProcess,
    as_obj,
    free_port,
    wait_until,
)

pytestmark = [pytest.mark.timeout(120)]

KEY = "signkey-test-" + "0a1b2c" * 10 + "dcba"
EVENT_KEY = "ts-connect-events"
SRC = Path(__file__).resolve().parents[2] / "src"
RUNS_PER_PROCESS = 4


def _bearer() -> dict[str, str]:
    from stepwell.protocol import signing

    return {"Authorization": f"Bearer {signing.hashed_key(KEY)}"}


def _server(work: Path, name: str, port: int, gateway: int, database: str) -> ManagedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
    env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"})
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
    argv = [sys.executable, "-m", "stepwell", "start", "--host", LOOPBACK, "--port", str(port)]
    argv += ["--connect-port", str(gateway), "--database", database]
    argv += ["--signing-key", KEY, "--event-key", EVENT_KEY, "--poll-interval", "1"]
    return ManagedProcess.start(name, argv, env=env, cwd=work, log_path=work / f"{name}.log")


def _notes(path: Path) -> dict[str, list[str]]:
    """What the worker noted, by run: ``call`` per call of the function, then each step body."""
    found: dict[str, list[str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line:
                note = as_obj(json.loads(line))
                found.setdefault(str(note["run_id"]), []).append(str(note["what"]))
    return found


def test_a_ts_worker_checkpoints_to_another_process(
    ts_app_installed: None, pg_url: str, tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    port_a, port_b, gateway_a, gateway_b = (free_port() for _ in range(4))
    url_a, url_b = f"http://{LOOPBACK}:{port_a}", f"http://{LOOPBACK}:{port_b}"
    servers = [
        _server(tmp_path, "server-a", port_a, gateway_a, pg_url),
        _server(tmp_path, "server-b", port_b, gateway_b, pg_url),
    ]
    everyone = list(servers)

    def describe() -> str:
        return "".join(process.describe() for process in everyone)

    def get(url: str, path: str) -> httpx.Response | None:
        for process in everyone:
            process.check_alive()
        try:
            return httpx.get(url + path, headers=_bearer())
        except httpx.TransportError:
            return None

    def healthy(url: str) -> bool:
        response = get(url, "/health")
        return response is not None and response.status_code == 200

    def synced(url: str) -> bool:
        response = get(url, "/v1/apps/tsconn/functions")
        return response is not None and response.status_code == 200

    notes_path = tmp_path / "notes.jsonl"
    try:
        for url in (url_a, url_b):
            wait_until(functools.partial(healthy, url), timeout=STARTUP_TIMEOUT, what=url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
        env.update(
            {
                "INNGEST_SIGNING_KEY": KEY,
                "INNGEST_BASE_URL": url_a,
                "INNGEST_CONNECT_GATEWAY_URL": f"ws://{LOOPBACK}:{gateway_b}/v0/connect",
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
                "WORKER_NAME": "tsb",
                "NOTES_PATH": str(notes_path),
            }
        )
        everyone.append(
            ManagedProcess.start(
                "ts connect worker",
                [node, "--experimental-websocket", str(TS_APP_DIR / "connect_worker.mjs")],
                env=env,
                cwd=TS_APP_DIR,
                log_path=tmp_path / "ts-worker.log",
            )
        )

        def on_b() -> bool:
            response = get(url_b, "/v0/connect/workers")
            if response is None or response.status_code != 200:
                return False
            workers = response.json()["data"]
            return any(w["instance_id"] == "tsb" and w["status"] == "READY" for w in workers)

        wait_until(on_b, timeout=STARTUP_TIMEOUT, what="the worker on B", context=describe)
        # B learnt the app from the socket; A takes it in from the database (every second).
        for url in (url_a, url_b):
            what = f"tsconn on {url}"
            wait_until(functools.partial(synced, url), timeout=30, what=what, context=describe)

        sent: list[tuple[str, str, int]] = []  # (the process that ingested it, event id, n)
        for index, url in enumerate((url_a, url_b)):
            numbers = [index * 100 + i for i in range(RUNS_PER_PROCESS)]
            events = [{"name": "tsconn/steps", "data": {"n": n}} for n in numbers]
            posted = httpx.post(f"{url}/e/{EVENT_KEY}", json=events)
            assert posted.status_code == 200, posted.text
            ids = posted.json()["ids"]
            sent += [(url, event_id, n) for event_id, n in zip(ids, numbers, strict=True)]

        def ended() -> list[dict[str, object]] | None:
            runs = []
            for _, event_id, _ in sent:
                response = get(url_a, f"/v1/events/{event_id}/runs")
                found = response.json()["data"] if response is not None else []
                if len(found) != 1 or found[0]["status"] not in ("Completed", "Failed"):
                    return None
                runs.append(as_obj(found[0]))
            return runs

        runs = wait_until(ended, timeout=60, what="every run to end", context=describe)
        notes = _notes(notes_path)
        for (url, _, n), run in zip(sent, runs, strict=True):
            where = f"run {run['run_id']} sent to {url}"
            assert run["status"] == "Completed", (where, run["output"], describe())
            assert run["output"] == {"a": f"a:{n}", "b": f"a:{n}+b", "worker": "tsb"}, where
            # One call ran both steps: each step's checkpoint was taken while the call went on.
            assert notes.get(str(run["run_id"])) == ["call", "a", "b"], (where, describe())
        # Each process executed the runs it ingested (B's are those whose checkpoints A had to
        # forward; A's had their calls forwarded to B's socket).
        started = 'stepwell_runs_started_total{function="tsconn-steps"} '
        for url in (url_a, url_b):
            metrics = get(url, "/metrics")
            assert metrics is not None, url
            assert metrics.status_code == 200, url
            counts = [line for line in metrics.text.splitlines() if line.startswith(started)]
            assert counts == [f"{started}{float(RUNS_PER_PROCESS)}"], (url, counts)
    finally:
        for process in reversed(everyone):
            process.stop()
