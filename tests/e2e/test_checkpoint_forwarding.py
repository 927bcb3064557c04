"""Async checkpoints reach the process that made the call (two processes, one PostgreSQL).

The app's checkpoints go to server A (its ``INNGEST_BASE_URL``); its events go to server B,
which leases the runs it ingests and so makes every call. A takes no step itself: it looks up
who leases the run's queue item and forwards the steps to B over the relay. If A refused them
instead (as before), the SDK would answer each refused batch in its call and B would call
again: a run of five steps would take three calls, not one.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import APPS_DIR, LOOPBACK, ManagedProcess, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

KEY = "signkey-test-" + "f0e1d2" * 10 + "abcd"
EVENT_KEY = "forward-events"
RUNS = 20


def _bearer() -> dict[str, str]:
    from stepwell.protocol import signing

    return {"Authorization": f"Bearer {signing.hashed_key(KEY)}"}


def _server(work: Path, name: str, port: int, database: str, app_url: str) -> ManagedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
    argv = [sys.executable, "-m", "stepwell", "start", "--port", str(port)]
    argv += ["--database", database, "--signing-key", KEY, "--event-key", EVENT_KEY]
    argv += ["-u", app_url, "--poll-interval", "1"]
    return ManagedProcess.start(name, argv, env=env, cwd=work, log_path=work / f"{name}.log")


def test_a_checkpoint_sent_to_another_process_is_taken(pg_url: str, tmp_path: Path) -> None:
    app_port, port_a, port_b = free_port(), free_port(), free_port()
    app_url = f"http://{LOOPBACK}:{app_port}/api/inngest"
    env = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
    app = ManagedProcess.start(
        "forward app",
        [sys.executable, str(APPS_DIR / "forward_app.py"), "--port", str(app_port)],
        env={
            **env,
            "INNGEST_SIGNING_KEY": KEY,
            "INNGEST_EVENT_KEY": EVENT_KEY,
            "INNGEST_BASE_URL": f"http://{LOOPBACK}:{port_a}",
            "PYTHONPATH": str(Path(__file__).parents[2]),
        },
        cwd=tmp_path,
        log_path=tmp_path / "app.log",
    )
    servers = [
        _server(tmp_path, "server-a", port_a, pg_url, app_url),
        _server(tmp_path, "server-b", port_b, pg_url, app_url),
    ]
    everyone = [app, *servers]

    def describe() -> str:
        return "".join(process.describe() for process in everyone)

    def synced(port: int) -> bool:
        for process in everyone:
            process.check_alive()
        try:
            found = httpx.get(
                f"http://{LOOPBACK}:{port}/v1/apps/forward/functions", headers=_bearer()
            )
        except httpx.TransportError:
            return False
        return found.status_code == 200 and len(found.json()["data"]["functions"]) == 1

    try:
        for port in (port_a, port_b):
            wait_until(functools.partial(synced, port), timeout=60, what=f"sync on :{port}")
        events = [{"name": "forward/go", "data": {"n": i}} for i in range(RUNS)]
        sent = httpx.post(f"http://{LOOPBACK}:{port_b}/e/{EVENT_KEY}", json=events)
        assert sent.status_code == 200, sent.text
        ids = sent.json()["ids"]

        def outputs() -> list[tuple[object, object]] | None:
            found: list[tuple[object, object]] = []
            for event_id in ids:
                response = httpx.get(
                    f"http://{LOOPBACK}:{port_b}/v1/events/{event_id}/runs", headers=_bearer()
                )
                runs = response.json()["data"]
                if len(runs) != 1 or runs[0]["status"] not in ("Completed", "Failed"):
                    return None
                found.append((runs[0]["status"], runs[0]["output"]))
            return found

        done = wait_until(outputs, timeout=120, what="every run to end", context=describe)
        assert done == [("Completed", 10)] * RUNS
        calls = httpx.get(f"http://{LOOPBACK}:{app_port}/stats").json()["calls"]
        assert len(calls) == RUNS
        assert set(calls.values()) == {1}, (calls, describe())
    finally:
        for process in reversed(everyone):
            process.stop()
