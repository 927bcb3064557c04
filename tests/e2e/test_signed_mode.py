"""``stepwell start`` (production mode) with an app on the official Python SDK in cloud mode:
requests are signed and verified, event keys and SDK keys are checked (protocol.md §6)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator

import httpx
import jcs
import pytest

from stepwell.protocol import signing
from tests.e2e.harness import APPS_DIR, LOOPBACK, ManagedProcess, free_port, wait_until

KEY = "signkey-test-" + "f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f"
EVENT_KEY = "event-key-1"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    work = tmp_path_factory.mktemp("signed")
    app_port, server_port = free_port(), free_port()
    server = f"http://{LOOPBACK}:{server_port}"
    app_url = f"http://{LOOPBACK}:{app_port}/api/inngest"
    base = {k: v for k, v in os.environ.items() if not k.startswith("INNGEST_")}
    app = ManagedProcess.start(
        "signed app",
        [sys.executable, str(APPS_DIR / "py_signed_app.py"), "--port", str(app_port)],
        env={
            **base,
            "INNGEST_SIGNING_KEY": KEY,
            "INNGEST_EVENT_KEY": EVENT_KEY,
            "INNGEST_BASE_URL": server,
        },
        cwd=work,
        log_path=work / "app.log",
    )
    start = ManagedProcess.start(
        "stepwell start",
        [
            sys.executable,
            "-m",
            "stepwell",
            "start",
            "--port",
            str(server_port),
            "--signing-key",
            KEY,
            "--event-key",
            EVENT_KEY,
            "-u",
            app_url,
            "--poll-interval",
            "1",
            "--retry-interval",
            "1",
            "--database",
            f"sqlite:///{work / 'start.db'}",
        ],
        env=base,
        cwd=work,
        log_path=work / "server.log",
    )
    try:
        bearer = {"Authorization": f"Bearer {signing.hashed_key(KEY)}"}

        def synced() -> bool:
            start.check_alive()
            app.check_alive()
            try:
                found = httpx.get(f"{server}/v1/apps/signedapp/functions", headers=bearer)
            except httpx.TransportError:
                return False
            return found.status_code == 200

        wait_until(
            synced,
            timeout=60,
            what="the signed app to sync",
            context=lambda: start.describe() + app.describe(),
        )
        yield server, app_url
    finally:
        start.stop()
        app.stop()


def test_signed_requests_run_functions_and_event_keys_are_checked(
    stack: tuple[str, str],
) -> None:
    server, _ = stack
    wrong = httpx.post(f"{server}/e/not-a-key", json={"name": "signed/hello", "data": {}})
    assert wrong.status_code == 401
    assert wrong.json() == {"status": 401, "message": "", "error": "Event key not found"}
    sent = httpx.post(
        f"{server}/e/{EVENT_KEY}", json={"name": "signed/hello", "data": {"who": "ada"}}
    )
    assert sent.status_code == 200, sent.text
    [event_id] = sent.json()["ids"]

    bearer = {"Authorization": f"Bearer {signing.hashed_key(KEY)}"}
    assert httpx.get(f"{server}/v1/events/{event_id}/runs").status_code == 401

    def finished() -> dict[str, object] | None:
        runs = httpx.get(f"{server}/v1/events/{event_id}/runs", headers=bearer).json()["data"]
        return runs[0] if runs and runs[0]["status"] in ("Completed", "Failed") else None

    run = wait_until(finished, timeout=30, what="the signed run to end")
    assert run is not None
    # Every call the server made was signed and verified by the SDK, or nothing would run.
    assert (run["status"], run["output"]) == ("Completed", "hello ada")


def test_sdk_calls_to_the_server_need_the_signing_key(stack: tuple[str, str]) -> None:
    server, _ = stack
    payload = {"appname": "intruder", "url": "http://127.0.0.1:9/x", "functions": []}
    assert httpx.post(f"{server}/fn/register", json=payload).status_code == 401
    bad = {"Authorization": "Bearer " + "0" * 64}
    assert httpx.post(f"{server}/fn/register", json=payload, headers=bad).status_code == 401
    assert httpx.get(f"{server}/dev").status_code == 401  # locked, like every route
    bearer = {"Authorization": f"Bearer {signing.hashed_key(KEY)}"}
    # With the key, still no dev endpoints in production.
    assert httpx.get(f"{server}/dev", headers=bearer).status_code == 404


def _call(url: str, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Inngest-Signature"] = signature
    return httpx.post(f"{url}?fnId=signedapp-hello&stepId=step", content=body, headers=headers)


def test_the_app_refuses_tampered_and_unsigned_requests(stack: tuple[str, str]) -> None:
    _, app_url = stack
    event = {"name": "signed/hello", "data": {"who": "bob"}, "id": "e1", "ts": 1, "user": {}}
    request = {
        "ctx": {
            "attempt": 0,
            "disable_immediate_execution": False,
            "run_id": "01RUN",
            "stack": {"stack": [], "current": 0},
            "max_attempts": 1,
        },
        "event": event,
        "events": [event],
        "steps": {},
        "use_api": False,
        "version": 2,
    }
    body: bytes = jcs.canonicalize(request)
    now = int(time.time())
    good = signing.signature(body, KEY, now)
    # The genuine signature is accepted: the SDK runs the function's first step.
    accepted = _call(app_url, body, good)
    assert accepted.status_code == 206, accepted.text
    assert json.loads(accepted.content)[0]["op"] == "StepRun"
    tampered = body.replace(b'"bob"', b'"eve"')
    assert _call(app_url, tampered, good).status_code == 401  # body changed after signing
    forged = signing.signature(body, "signkey-test-" + "ab" * 32, now)
    assert _call(app_url, body, forged).status_code == 401  # signed with another key
    assert _call(app_url, body, None).status_code == 401  # not signed at all
    assert httpx.get(app_url).status_code == 401  # unsigned introspection


def test_server_refuses_a_registration_from_another_server_kind(stack: tuple[str, str]) -> None:
    server, _ = stack
    headers = {
        "Authorization": f"Bearer {signing.hashed_key(KEY)}",
        "X-Inngest-Expected-Server-Kind": "dev",
    }
    refused = httpx.post(
        f"{server}/fn/register",
        json={"appname": "x", "url": "http://127.0.0.1:9", "functions": []},
        headers=headers,
    )
    assert refused.status_code == 400
    assert "Expected server kind cloud, got dev" in refused.json()["error"]
