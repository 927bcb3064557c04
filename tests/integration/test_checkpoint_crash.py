"""Checkpointing over HTTP survives crashes: an app on our SDK (``checkpoint_app.py``, its own
process) runs a 12-step function whose results it checkpoints while it runs on; ``stepwell dev``
is another process. The app reaches the server through a proxy here, which holds the third
checkpoint back: while it is held, the function goes on, so at the crash some steps are stored
(acknowledged), one batch is on its way, and later results wait in the SDK, unsent.

Then either the app or the server is killed with SIGKILL (and started again), and the held
checkpoint is let go, late. What must hold, counting step bodies with the file they append to:

* the run completes with the right output;
* every step whose result was stored when the process died ran exactly once;
* a step not yet acknowledged ran again at most once (at most twice in all), and only those.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stepwell.protocol.step_ids import hash_step_id
from tests.integration.checkpoint_app import EVENT, FUNCTION_SLUG, STEPS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
STEP_OF_HASH = {hash_step_id(f"s{i}"): f"s{i}" for i in range(STEPS)}


def until(check: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError, sqlite3.Error):
            result = check()
            if result:
                return result
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Proxy:
    """Forwards the app's calls to the server; holds the ``hold_at``-th checkpoint until
    ``release`` (then forwards it, late, and keeps the server's answer)."""

    def __init__(self, target: str, hold_at: int) -> None:
        self.target = target
        self.hold_at = hold_at
        self.checkpoints = 0
        self.held_body: bytes | None = None
        self.late_status: int | None = None
        self._release = threading.Event()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self._forward("POST")

            def do_GET(self) -> None:
                self._forward("GET")

            def do_PUT(self) -> None:
                self._forward("PUT")

            def _forward(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                held = False
                if "/v1/checkpoint/" in self.path:
                    proxy.checkpoints += 1
                    if proxy.checkpoints == proxy.hold_at:
                        held = True
                        proxy.held_body = body
                        proxy._release.wait(WAIT_S)
                skip = ("host", "content-length")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
                try:
                    with httpx.Client(timeout=10) as client:
                        answer = client.request(
                            method, proxy.target + self.path, content=body, headers=headers
                        )
                    status, content = answer.status_code, answer.content
                except httpx.HTTPError:
                    status, content = 502, b"{}"
                if held:
                    proxy.late_status = status
                with contextlib.suppress(OSError):
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.port = free_port()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def held_steps(self) -> list[str]:
        import json

        assert self.held_body is not None
        return [STEP_OF_HASH[op["id"]] for op in json.loads(self.held_body)["steps"]]

    def release(self) -> None:
        self._release.set()

    def __enter__(self) -> Proxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db = tmp / "server.db"
        self.log = tmp / "steps.log"
        self.server_port = free_port()
        self.app_port = free_port()
        self.server_url = f"http://127.0.0.1:{self.server_port}"
        self.app: subprocess.Popen[bytes] | None = None
        self.server: subprocess.Popen[bytes] | None = None
        self.env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}

    def start_app(self, proxy: Proxy) -> None:
        env = {**self.env, "CKPT_LOG": str(self.log), "INNGEST_DEV": "1"}
        env["INNGEST_BASE_URL"] = f"http://127.0.0.1:{proxy.port}"
        argv = [sys.executable, "-m", "uvicorn", "tests.integration.checkpoint_app:make_asgi"]
        argv += ["--factory"]
        argv += ["--port", str(self.app_port), "--log-level", "warning"]
        out = (self.tmp / "app.log").open("a")
        self.app = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        until(lambda: httpx.get(f"http://127.0.0.1:{self.app_port}/api/inngest"), "the app")

    def start_server(self) -> None:
        argv = [sys.executable, "-m", "stepwell", "dev", "--port", str(self.server_port)]
        argv += ["--database", f"sqlite:///{self.db}", "--no-discovery", "--lease", "1"]
        argv += ["--retry-interval", "0.5", "--poll-interval", "3600"]
        argv += ["-u", f"http://127.0.0.1:{self.app_port}/api/inngest"]
        out = (self.tmp / "server.log").open("a")
        self.server = subprocess.Popen(
            argv, cwd=self.tmp, env=self.env, stdout=out, stderr=subprocess.STDOUT
        )
        until(lambda: FUNCTION_SLUG in httpx.get(f"{self.server_url}/dev").text, "the sync")

    @staticmethod
    def kill(process: subprocess.Popen[bytes] | None) -> None:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(10)

    def send(self) -> str:
        answer = httpx.post(f"{self.server_url}/e/key", json={"name": EVENT, "data": {}})
        ids: list[str] = answer.json()["ids"]
        return ids[0]

    def finished_run(self, event_id: str) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            runs = httpx.get(f"{self.server_url}/v1/events/{event_id}/runs").json()["data"]
            if runs and runs[0]["status"] in ("Completed", "Failed", "Cancelled"):
                run: dict[str, Any] = runs[0]
                return run
            return None

        found: dict[str, Any] = until(ended, "the run to end")
        return found

    def lines(self) -> list[tuple[int, str, str]]:
        """``(pid, step, start|end)`` of every whole line in the log."""
        if not self.log.exists():
            return []
        text = self.log.read_text()
        text = text[: text.rfind("\n") + 1]
        parsed = []
        for line in text.splitlines():
            pid, _run, step, what = line.split()
            parsed.append((int(pid), step, what))
        return parsed

    def ended_steps(self) -> set[str]:
        return {step for _, step, what in self.lines() if what == "end"}

    def ended(self, step: str) -> bool:
        return any(s == step and what == "end" for _, s, what in self.lines())

    def stored(self) -> set[str]:
        """The steps whose results are in the database (read with no server writing)."""
        uri = f"{self.db.as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
            rows = conn.execute("SELECT step_hash FROM steps").fetchall()
        return {STEP_OF_HASH[h] for (h,) in rows if h in STEP_OF_HASH}

    def close(self) -> None:
        self.kill(self.app)
        self.kill(self.server)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    made = Stack(tmp_path)
    try:
        yield made
    finally:
        made.close()


def _crash_midway(stack: Stack, proxy: Proxy) -> str:
    """Start a run and return once a checkpoint is held and two later steps have ended."""
    event_id = stack.send()
    until(lambda: proxy.held_body is not None, "a checkpoint to hold")
    last_held = max(int(step[1:]) for step in proxy.held_steps)
    until(lambda: stack.ended(f"s{last_held + 2}"), "the function to run ahead")
    return event_id


def _check(
    stack: Stack, run: dict[str, Any], stored_at_crash: set[str], ended: set[str], held: list[str]
) -> None:
    assert run["status"] == "Completed", run
    assert run["output"] == list(range(STEPS))
    starts = Counter(step for _, step, what in stack.lines() if what == "start")
    steps = [f"s{i}" for i in range(STEPS)]
    assert set(starts) == set(steps), starts
    # The crash came after some steps were stored, and some finished ones were not.
    assert stored_at_crash, "no step was checkpointed before the crash"
    unacknowledged = ended - stored_at_crash  # finished, not stored, when the process died
    assert set(held) <= unacknowledged, (held, stored_at_crash)
    assert len(unacknowledged) > len(held), "no finished step waited unsent at the crash"
    for step in stored_at_crash:
        assert starts[step] == 1, (step, starts)
    for step, count in starts.items():
        assert count <= 2, (step, starts)
    again = {step for step, count in starts.items() if count == 2}
    assert again.isdisjoint(stored_at_crash)


def test_an_app_killed_midway_reruns_only_unacknowledged_steps_once(stack: Stack) -> None:
    with Proxy(stack.server_url, hold_at=3) as proxy:
        stack.start_app(proxy)
        stack.start_server()
        event_id = _crash_midway(stack, proxy)
        killed = stack.app
        assert killed is not None
        stack.kill(killed)
        stored, ended = stack.stored(), stack.ended_steps()
        # The held checkpoint arrives after its call died: not taken for that call any more
        # (409), or taken if the server had not yet seen the call fail; never stored twice.
        proxy.release()
        until(lambda: proxy.late_status is not None, "the late checkpoint's answer")
        assert proxy.late_status in (200, 409)
        stack.start_app(proxy)
        run = stack.finished_run(event_id)
        _check(stack, run, stored, ended, proxy.held_steps)
        # Everything that ran twice ran first in the killed process.
        pids = {
            step: [pid for pid, s, w in stack.lines() if s == step and w == "start"]
            for step in STEP_OF_HASH.values()
        }
        for runs in pids.values():
            if len(runs) == 2:
                assert runs[0] == killed.pid


def test_a_server_killed_midway_loses_no_stored_step(stack: Stack) -> None:
    with Proxy(stack.server_url, hold_at=3) as proxy:
        stack.start_app(proxy)
        stack.start_server()
        event_id = _crash_midway(stack, proxy)
        stack.kill(stack.server)
        stored, ended = stack.stored(), stack.ended_steps()
        # The held checkpoint goes on to a dead server: the SDK tries again, then answers the
        # steps in the call's response (to nobody), and stops running ahead.
        proxy.release()
        until(lambda: proxy.late_status is not None, "the late checkpoint's answer")
        assert proxy.late_status == 502
        stack.start_server()
        run = stack.finished_run(event_id)
        _check(stack, run, stored, ended, proxy.held_steps)
