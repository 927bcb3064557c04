"""Inngest Connect against a real ``stepwell dev``: workers on the official Python SDK's
``inngest.connect`` (``apps/py_connect_worker.py``) dial in over a WebSocket; none serves HTTP.

The server runs with a 4 s lease on requests (workers extend it every second) and a 1 s
heartbeat (a worker silent for 3 s is dropped); the workers heartbeat every second. Which worker
ran which step body, and when, is read from the notes the workers append to a file.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import (
    APPS_DIR,
    LOOPBACK,
    RUN_TIMEOUT,
    STARTUP_TIMEOUT,
    ManagedProcess,
    Run,
    StepwellDev,
    _sdk_env,
    as_list,
    as_obj,
    free_port,
    nonce,
    wait_until,
)

WORKER = APPS_DIR / "py_connect_worker.py"
SRC = Path(__file__).resolve().parents[2] / "src"  # this tree's stepwell, whatever the cwd
LEASE_S = 4
FUNCTIONS = {"connapp-hello", "connapp-sync-nap", "connapp-slow", "connapp-block"}


class ConnectServer:
    """``stepwell dev`` with its Connect gateway on a port of its own; restartable."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.gateway_port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.dev: StepwellDev | None = None
        self.starts = 0

    @property
    def api(self) -> StepwellDev:
        assert self.dev is not None, "the server is not running"
        return self.dev

    def start(self) -> None:
        self.starts += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
        env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost"})
        env["PYTHONPATH"] = os.pathsep.join([str(SRC), *filter(None, [env.get("PYTHONPATH")])])
        argv = [
            sys.executable,
            "-m",
            "stepwell",
            "dev",
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--connect-port",
            str(self.gateway_port),
            "--connect-lease",
            str(LEASE_S),
            "--connect-heartbeat",
            "1",
            "--database",
            f"sqlite:///{self.workdir / 'dev.db'}",
            "--retry-interval",
            "1",
            "--no-discovery",
        ]
        process = ManagedProcess.start(
            "stepwell dev",
            argv,
            env=env,
            cwd=self.workdir,
            log_path=self.workdir / f"stepwell-dev-{self.starts}.log",
        )
        self.dev = StepwellDev(process, self.url)

        def healthy() -> bool:
            process.check_alive()
            try:
                return self.api.http.get("/health").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(healthy, timeout=STARTUP_TIMEOUT, what="stepwell dev to answer /health")

    def stop(self) -> None:
        if self.dev is not None:
            self.dev.process.stop()
            self.dev.close()
            self.dev = None

    def workers(self) -> list[dict[str, object]]:
        response = self.api.http.get("/v0/connect/workers")
        assert response.status_code == 200, response.text
        data = as_obj(response.json()).get("data")
        return [as_obj(item) for item in as_list(data)]

    def wait_for_worker(
        self, name: str, status: str = "READY", timeout: float = STARTUP_TIMEOUT
    ) -> dict[str, object]:
        def found() -> dict[str, object] | None:
            self.api.process.check_alive()
            return next(
                (w for w in self.workers() if w["instance_id"] == name and w["status"] == status),
                None,
            )

        return wait_until(
            found,
            timeout=timeout,
            what=f"worker {name} to be {status}",
            context=lambda: f"workers: {self.workers()}",
        )


class Workers:
    """Worker processes of one test, and the notes they write."""

    def __init__(self, server: ConnectServer, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self.notes_path = workdir / "notes.jsonl"
        self.processes: dict[str, ManagedProcess] = {}
        self.tag = nonce()[:6]

    def start(self, short: str) -> str:
        name = f"{short}-{self.tag}"
        env = {
            **_sdk_env(self.server.url),
            "WORKER_NAME": name,
            "NOTES_PATH": str(self.notes_path),
        }
        self.processes[name] = ManagedProcess.start(
            f"worker {name}",
            [sys.executable, str(WORKER)],
            env=env,
            cwd=APPS_DIR,
            log_path=self.workdir / f"worker-{name}.log",
        )
        self.server.wait_for_worker(name)
        return name

    def signal(self, name: str, sig: signal.Signals) -> None:
        os.killpg(self.processes[name].popen.pid, sig)

    def notes(self, run_id: str | None = None) -> list[dict[str, object]]:
        if not self.notes_path.exists():
            return []
        lines = self.notes_path.read_text().splitlines()
        notes = [as_obj(json.loads(line)) for line in lines if line.strip()]
        return [n for n in notes if run_id is None or n["run_id"] == run_id]

    def wait_for_note(self, run_id: str, what: str) -> dict[str, object]:
        return wait_until(
            lambda: next((n for n in self.notes(run_id) if n["what"] == what), None),
            timeout=RUN_TIMEOUT,
            what=f"note {what!r} of run {run_id}",
        )

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConnectServer]:
    running = ConnectServer(tmp_path_factory.mktemp("e2e-connect"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def workers(server: ConnectServer, tmp_path: Path) -> Iterator[Workers]:
    group = Workers(server, tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


def _run(server: ConnectServer, name: str, data: dict[str, object], **kw: float) -> Run:
    return server.api.wait_for_run(server.api.send_one(name, data), **kw)


def test_a_worker_syncs_its_functions_and_runs_one(server: ConnectServer, workers: Workers) -> None:
    name = workers.start("a")
    assert server.api.function_slugs() >= FUNCTIONS
    [worker] = [w for w in server.workers() if w["instance_id"] == name]
    assert worker["sdk"] == "py:v0.5.19"
    assert worker["apps"] == ["connapp"]

    run = _run(server, "conn/hello", {"name": "ada"})
    assert run.status == "Completed", run.output
    assert run.output == {"greeting": "hello ada", "worker": name}
    assert [n["what"] for n in workers.notes(run.run_id)] == ["greet"]


def test_sync_functions_run_concurrently(server: ConnectServer, workers: Workers) -> None:
    name = workers.start("a")
    ids = server.api.send([{"name": "conn/sync-nap", "data": {"seconds": 2}}] * 3)
    runs = [server.api.wait_for_run(event_id) for event_id in ids]
    assert all(run.status == "Completed" for run in runs), runs
    spans = [as_obj(run.output) for run in runs]
    assert {span["worker"] for span in spans} == {name}
    starts = [float(str(span["start"])) for span in spans]
    ends = [float(str(span["end"])) for span in spans]
    # All three naps were under way at once (one after the other would take 6 s).
    assert max(starts) < min(ends), spans


def test_a_step_longer_than_the_lease_runs_once(server: ConnectServer, workers: Workers) -> None:
    name = workers.start("a")
    run = _run(server, "conn/slow", {"seconds": 2 * LEASE_S})
    assert run.status == "Completed", run.output
    assert run.output == {"long": name, "after": name}
    # The worker extended its lease all along: the request was never sent again.
    whats = [n["what"] for n in workers.notes(run.run_id)]
    assert whats == ["long:start", "long:end", "after"], whats


def test_heartbeats_go_on_while_the_worker_blocks(server: ConnectServer, workers: Workers) -> None:
    name = workers.start("a")
    [before] = [w for w in server.workers() if w["instance_id"] == name]
    # Blocked for 5 s: more than the 3 s of silence that drops a worker, and than the lease.
    run = _run(server, "conn/block", {"seconds": 5})
    assert run.status == "Completed", run.output
    assert run.output == {"stalled": name}
    assert [n["what"] for n in workers.notes(run.run_id)] == ["stall:start", "stall:end"]
    [after] = [w for w in server.workers() if w["instance_id"] == name]
    assert after["connection_id"] == before["connection_id"]  # never dropped, no reconnect


@pytest.mark.parametrize("sig", [signal.SIGUSR1, signal.SIGTERM], ids=["close()", "SIGTERM"])
def test_a_draining_worker_finishes_its_step_and_gets_no_new_work(
    server: ConnectServer, workers: Workers, sig: signal.Signals
) -> None:
    a = workers.start("a")
    gate = workers.workdir / f"gate-{sig.name}"
    event_id = server.api.send_one("conn/slow", {"gate": str(gate)})
    run_id = server.api.wait_for_run_started(event_id).run_id
    workers.wait_for_note(run_id, "long:start")
    b = workers.start("b")
    workers.signal(a, sig)  # SIGUSR1: the app calls close(); SIGTERM: the SDK's own handler
    server.wait_for_worker(a, "DRAINING", timeout=RUN_TIMEOUT)
    hello = _run(server, "conn/hello", {"name": "while draining"})
    assert as_obj(hello.output)["worker"] == b  # nothing new for the draining worker
    gate.touch()  # only now may a's step end: it was under way the whole time

    run = server.api.wait_for_run(event_id)
    assert run.status == "Completed", run.output
    # The step under way finished on the draining worker; the next one went to the other.
    assert run.output == {"long": a, "after": b}
    process = workers.processes[a]
    wait_until(lambda: not process.alive, timeout=RUN_TIMEOUT, what=f"worker {a} to exit")
    assert process.popen.returncode == 0, process.describe()
    wait_until(
        lambda: all(w["instance_id"] != a for w in server.workers()),
        timeout=RUN_TIMEOUT,
        what=f"worker {a} to be gone from the list",
    )


def test_a_worker_killed_mid_step_has_its_request_retried_on_another(
    server: ConnectServer, workers: Workers
) -> None:
    a = workers.start("a")
    gate = workers.workdir / "gate-kill"
    event_id = server.api.send_one("conn/slow", {"gate": str(gate)})
    run_id = server.api.wait_for_run_started(event_id).run_id
    workers.wait_for_note(run_id, "long:start")
    b = workers.start("b")
    workers.signal(a, signal.SIGKILL)  # mid-step: its step cannot have ended, the gate is shut
    workers.processes[a].popen.wait(timeout=30)
    gate.touch()

    run = server.api.wait_for_run(event_id, timeout=RUN_TIMEOUT + 2 * LEASE_S)
    assert run.status == "Completed", run.output
    assert run.output == {"long": b, "after": b}
    notes = [(n["worker"], n["what"], n["attempt"]) for n in workers.notes(run_id)]
    # Started on a, lost with it; its lease ran out and b ran the step, as the same attempt.
    assert notes == [
        (a, "long:start", 0),
        (b, "long:start", 0),
        (b, "long:end", 0),
        (b, "after", 0),
    ], notes


def test_two_workers_share_a_function_s_runs(server: ConnectServer, workers: Workers) -> None:
    a, b = workers.start("a"), workers.start("b")
    ids = server.api.send([{"name": "conn/sync-nap", "data": {"seconds": 1}}] * 6)
    runs = [server.api.wait_for_run(event_id) for event_id in ids]
    assert all(run.status == "Completed" for run in runs), runs
    ran_on = [as_obj(run.output)["worker"] for run in runs]
    assert set(ran_on) == {a, b}, ran_on
    assert ran_on.count(a) >= 2, ran_on
    assert ran_on.count(b) >= 2, ran_on


def test_a_worker_reconnects_after_the_server_restarts(
    server: ConnectServer, workers: Workers
) -> None:
    a = workers.start("a")
    [first] = [w for w in server.workers() if w["instance_id"] == a]
    assert _run(server, "conn/hello", {"name": "before"}).status == "Completed"

    server.stop()
    server.start()
    # The SDK waits 5 s after a lost socket, then starts again: a new connection, same worker.
    again = server.wait_for_worker(a, timeout=45.0)
    assert again["connection_id"] != first["connection_id"]
    workers.processes[a].check_alive()
    run = _run(server, "conn/hello", {"name": "after"})
    assert run.status == "Completed", run.output
    assert run.output == {"greeting": "hello after", "worker": a}


WORKER_CONNECTIONS = """query($filter: ConnectV1WorkerConnectionsFilter!) {
  workerConnections(first: 10, orderBy: [{field: CONNECTED_AT, direction: ASC}], filter: $filter) {
    totalCount
    edges { cursor node { id instanceId status appName appID functionCount sdkLang sdkVersion } }
  }
}"""


def _connections(server: ConnectServer, **filter: object) -> dict[str, object]:
    response = server.api.http.post(
        "/v0/gql", json={"query": WORKER_CONNECTIONS, "variables": {"filter": filter}}
    )
    assert response.status_code == 200, response.text
    body = as_obj(response.json())
    assert not body.get("errors"), body
    return as_obj(as_obj(body.get("data")).get("workerConnections"))


def test_a_connected_worker_shows_on_the_apps_page_and_in_graphql(
    server: ConnectServer, workers: Workers
) -> None:
    name = workers.start("a")
    [worker] = [w for w in server.workers() if w["instance_id"] == name]
    page = server.api.http.get("/apps")
    assert page.status_code == 200, page.text[:500]
    assert 'id="app-connapp"' in page.text
    assert f'id="worker-{worker["connection_id"]}"' in page.text
    assert name in page.text
    assert ">READY</span>" in page.text
    # Its workers sync it over their sockets: there is no URL to sync, so no Sync button.
    section = page.text.split('id="app-connapp"', 1)[1].split("</li>", 1)[0]
    assert 'aria-label="Sync"' not in section
    assert "Synced by its workers when they connect" in section

    found = _connections(server, status=["READY"])
    nodes = [as_obj(as_obj(edge).get("node")) for edge in as_list(found.get("edges"))]
    mine = [node for node in nodes if node["instanceId"] == name]
    assert len(mine) == 1, nodes
    assert mine[0]["id"] == worker["connection_id"]
    assert (mine[0]["status"], mine[0]["appName"], mine[0]["functionCount"]) == (
        "READY",
        "connapp",
        len(FUNCTIONS),
    )
    assert (mine[0]["sdkLang"], mine[0]["sdkVersion"]) == ("py", "0.5.19")
    assert isinstance(mine[0]["appID"], str)
    assert mine[0]["appID"]
    # No open connection is DISCONNECTED; once the worker is gone, it is listed nowhere.
    assert _connections(server, status=["DISCONNECTED"])["totalCount"] == 0
    workers.stop_all()
    wait_until(
        lambda: not any(w["instance_id"] == name for w in server.workers()),
        timeout=RUN_TIMEOUT,
        what=f"worker {name} to be gone",
    )
    assert name not in server.api.http.get("/apps").text
    remaining = _connections(server)["edges"]
    assert all(as_obj(as_obj(e).get("node"))["instanceId"] != name for e in as_list(remaining))
