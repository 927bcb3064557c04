"""Inngest Connect with the official TypeScript SDK (``inngest/connect``, 4.24.0).

A worker (``apps/ts/connect_worker.mjs``) dials in to a real ``stepwell dev``; its functions run
end to end. The SDK checkpoints steps asynchronously while its request runs on
(``POST /v1/checkpoint/{run}/async``): a run of two steps is one call of the function, each step
body runs once, and the steps are stored (a 409 there would fail the run for good). A sleep
between steps ends that call; the run goes on after it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import (
    STARTUP_TIMEOUT,
    TS_APP_DIR,
    ManagedProcess,
    _sdk_env,
    as_obj,
)
from tests.e2e.test_connect_official import ConnectServer

pytestmark = [pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def server(
    ts_app_installed: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectServer]:
    running = ConnectServer(tmp_path_factory.mktemp("e2e-connect-ts"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def worker(server: ConnectServer) -> Iterator[Path]:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH"
    notes = server.workdir / "ts-notes.jsonl"
    env = {**_sdk_env(server.url), "WORKER_NAME": "ts1", "NOTES_PATH": str(notes)}
    process = ManagedProcess.start(
        "ts connect worker",
        [node, "--experimental-websocket", str(TS_APP_DIR / "connect_worker.mjs")],
        env=env,
        cwd=TS_APP_DIR,
        log_path=server.workdir / "ts-worker.log",
    )
    try:
        found = server.wait_for_worker("ts1", timeout=STARTUP_TIMEOUT)
        assert found["sdk"] == "typescript:v4.24.0", found
        yield notes
    finally:
        process.stop()


def _notes(path: Path, run_id: str) -> list[str]:
    if not path.exists():
        return []
    lines = [as_obj(json.loads(line)) for line in path.read_text().splitlines() if line]
    return [str(n["what"]) for n in lines if n["run_id"] == run_id]


def test_steps_checkpointed_asynchronously_over_connect(
    server: ConnectServer, worker: Path
) -> None:
    run = server.api.wait_for_run(server.api.send_one("tsconn/steps", {"n": 7}))
    assert run.status == "Completed", run.output
    assert run.output == {"a": "a:7", "b": "a:7+b", "worker": "ts1"}
    # One call ran both steps: each was checkpointed while the call went on.
    assert _notes(worker, run.run_id) == ["call", "a", "b"]


def test_a_sleep_between_steps_over_connect(server: ConnectServer, worker: Path) -> None:
    run = server.api.wait_for_run(server.api.send_one("tsconn/nap", {}))
    assert run.status == "Completed", run.output
    assert run.output == {"after": 2, "worker": "ts1"}
    whats = _notes(worker, run.run_id)
    # Each step body once; the function is called again after the sleep (memoized "before").
    assert whats.count("before") == 1, whats
    assert whats.count("after") == 1, whats
    assert whats.count("call") >= 2, whats


def test_a_non_retriable_error_over_connect_fails_the_run(
    server: ConnectServer, worker: Path
) -> None:
    run = server.api.wait_for_run(server.api.send_one("tsconn/refuse", {}))
    assert run.status == "Failed", run.output
    assert as_obj(run.output)["message"] == "refused for good", run.output
    assert _notes(worker, run.run_id) == ["call"]  # not retried
