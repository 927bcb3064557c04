"""A durable endpoint's run survives its server: the official TS SDK's endpoint (``/ep/slow`` of
``apps/ts/endpoint_app.mjs``) runs a step, then sleeps 3 s, so the run goes on asynchronously;
the server is killed (SIGKILL) during the sleep and started again on the same database. The new
process knows the endpoint's function from the store (no sync ever declared it), calls the
endpoint back after the sleep, and the caller gets the handler's answer through the redirect.

``stepwell dev`` on a SQLite file, and ``stepwell start`` (signed, the SDK in cloud mode) on
PostgreSQL; on the latter too, the chunks an endpoint streams once asynchronous (sent by the
SDK to the server's tee, with the signing key) reach the caller.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from stepwell.protocol import signing
from tests.e2e.harness import (
    LOOPBACK,
    RUN_TIMEOUT,
    STARTUP_TIMEOUT,
    ManagedProcess,
    Sdk,
    _sdk_env,
    free_port,
    nonce,
    ts_app,
    wait_until,
)

pytestmark = [pytest.mark.timeout(180)]

ENDPOINTS = ts_app("endpoint_app.mjs")
KEY = "signkey-test-" + "e4d0" * 16
EVENT_KEY = "restart-events"


class Servers:
    """Starts the server again and again on one port and one database."""

    def __init__(self, mode: str, database: str, port: int, work: Path) -> None:
        self.url = f"http://{LOOPBACK}:{port}"
        self._argv = [sys.executable, "-m", "stepwell", mode, "--host", LOOPBACK]
        self._argv += ["--port", str(port), "--database", database, "--poll-interval", "1"]
        if mode == "dev":
            self._argv += ["--no-discovery"]
        else:
            self._argv += ["--signing-key", KEY, "--event-key", EVENT_KEY]
        bearer = {"Authorization": f"Bearer {signing.hashed_key(KEY)}"}
        self.headers = {} if mode == "dev" else bearer
        self._work = work
        self._started = 0
        self.process: ManagedProcess | None = None

    def start(self) -> None:
        self._started += 1
        env = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
        env["PYTHONUNBUFFERED"] = "1"
        self.process = process = ManagedProcess.start(
            f"server #{self._started}",
            self._argv,
            env=env,
            cwd=self._work,
            log_path=self._work / f"server-{self._started}.log",
        )

        def healthy() -> bool:
            process.check_alive()
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"{self.url}/health").status_code == 200
            return False

        wait_until(healthy, timeout=STARTUP_TIMEOUT, what=f"{process.name} to answer /health")

    def kill(self) -> None:
        assert self.process is not None
        os.killpg(self.process.popen.pid, signal.SIGKILL)
        self.process.popen.wait(10)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def spans(self, run_id: str) -> list[dict[str, object]]:
        response = httpx.get(f"{self.url}/v2/runs/{run_id}/trace", headers=self.headers)
        assert response.status_code == 200, response.text
        spans: list[dict[str, object]] = response.json()["data"]["spans"]
        return spans

    def run_status(self, run_id: str) -> str:
        response = httpx.get(f"{self.url}/v1/runs/{run_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        status: str = response.json()["data"]["status"]
        return status


@contextlib.contextmanager
def _app(sdk: Sdk, servers: Servers, mode: str, work: Path) -> Iterator[str]:
    port = free_port()
    env = {**_sdk_env(servers.url), **sdk.env(port)}
    if mode == "start":
        del env["INNGEST_DEV"]
        env["INNGEST_SIGNING_KEY"] = KEY
    app = ManagedProcess.start(
        "ts app", sdk.command(port), env=env, cwd=sdk.cwd, log_path=work / "app.log"
    )
    origin = f"http://{LOOPBACK}:{port}"
    try:

        def listening() -> bool:
            app.check_alive()
            with contextlib.suppress(httpx.TransportError):
                httpx.get(f"{origin}/ep/none")
                return True
            return False

        wait_until(listening, timeout=STARTUP_TIMEOUT, what="the TS app to listen")
        yield origin
    finally:
        app.stop()


@pytest.fixture(params=["dev", "start"])
def mode(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def test_an_endpoint_run_asleep_when_its_server_is_killed_completes_after_a_restart(
    ts_app_installed: None, mode: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    database = (
        f"sqlite:///{tmp_path / 'dev.db'}" if mode == "dev" else request.getfixturevalue("pg_url")
    )
    servers = Servers(mode, database, free_port(), tmp_path)
    try:
        servers.start()
        with (
            _app(ENDPOINTS, servers, mode, tmp_path) as origin,
            httpx.Client(timeout=RUN_TIMEOUT, follow_redirects=False) as client,
        ):
            n = nonce()
            first = client.get(f"{origin}/ep/slow", params={"n": n})
            assert first.status_code == 302, first.text
            location = first.headers["location"]
            assert location.startswith(f"{servers.url}/v1/http/runs/"), location
            run_id = urlsplit(location).path.split("/")[4]
            # Killed once the sleep is stored (the call that reported it has ended): the run
            # is then only a sleep item, not an execution the dead process still leases.
            wait_until(
                lambda: any(span["name"] == "nap" for span in servers.spans(run_id)),
                timeout=RUN_TIMEOUT,
                what="the endpoint's sleep to be stored",
            )
            assert servers.run_status(run_id) == "Running"  # asleep, 3 s to go

            servers.kill()
            servers.start()
            final = client.get(location)
            assert final.status_code == 200, final.text
            assert final.json() == {"before": f"before-{n}", "after": f"after-{n}"}
            assert servers.run_status(run_id) == "Completed"
    finally:
        servers.stop()


def test_chunks_streamed_after_going_async_reach_the_caller_in_production(
    ts_app_installed: None, pg_url: str, tmp_path: Path
) -> None:
    """The SDK in cloud mode sends its tee with the signing key, which ``stepwell start``
    requires of every SDK route; the caller needs only the realtime token."""
    servers = Servers("start", pg_url, free_port(), tmp_path)
    sse = {"accept": "text/event-stream"}
    try:
        servers.start()
        with (
            _app(ENDPOINTS, servers, "start", tmp_path) as origin,
            httpx.Client(timeout=RUN_TIMEOUT) as client,
        ):
            n = nonce()
            direct = client.get(f"{origin}/ep/streams", params={"n": n}, headers=sse)
            assert "event: inngest.redirect_info" in direct.text, direct.text
            url = next(
                line.split("data: ", 1)[1]
                for line in direct.text.splitlines()
                if line.startswith("data: ") and '"url"' in line
            )
            rest = client.get(json.loads(url)["url"], headers=sse)
        assert rest.status_code == 200, rest.text
        assert rest.text.count("event: inngest.stream") == 3, rest.text
        assert f"after-{n}" in rest.text.rsplit("event: inngest.response", 1)[1], rest.text
        # Without the signing key, nobody else publishes into a run's stream.
        refused = httpx.post(f"{servers.url}/v1/realtime/publish/tee?channel=x", content=b"")
        assert refused.status_code == 401, refused.text
    finally:
        servers.stop()
