"""``stepwell start`` as a real process, its keys only in the environment or in ``stepwell.toml``
(never on the command line, where ``ps`` shows them to every user of the machine)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from stepwell.protocol import signing
from tests.integration.server.test_cli import SRC, free_port
from tests.waiting import eventually

KEY = "signkey-test-0123456789abcdef"
FALLBACK = "signkey-test-fedcba9876543210"
EVENT_KEY = "event-key-one"
OTHER_EVENT_KEY = "event-key-two"


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any Stepwell or Inngest setting, plus ``extra``."""
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("STEPWELL_", "INNGEST_"))
    }
    # The Connect gateway on any free port, not port + 1 (another test's, maybe).
    return {**base, "PYTHONPATH": str(SRC), "STEPWELL_CONNECT_PORT": "0", **extra}


@asynccontextmanager
async def stepwell_start(
    cwd: Path, env: Mapping[str, str], port: int
) -> AsyncIterator[httpx.AsyncClient]:
    """``python -m stepwell start`` with no flags at all; a client once ``/health`` answers."""
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "stepwell", "start"),
        cwd=cwd,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as client:

            async def up() -> bool:
                if process.returncode is not None:
                    output = await process.stdout.read() if process.stdout else b""
                    raise AssertionError(f"stepwell start exited early: {output.decode()}")
                try:
                    return (await client.get("/health")).status_code == 200
                except httpx.TransportError:
                    return False

            await eventually(up, timeout=30, interval=0.05, what="stepwell start listening")
            yield client
    finally:
        if process.returncode is None:
            process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    # uvicorn shuts down gracefully, then re-raises SIGTERM: that is a clean exit.
    assert process.returncode in (0, -signal.SIGTERM), output.decode()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {signing.hashed_key(key)}"}


async def check_keys(client: httpx.AsyncClient) -> None:
    for key in (EVENT_KEY, OTHER_EVENT_KEY):
        sent = await client.post(f"/e/{key}", json={"name": "settings/hello", "data": {}})
        assert sent.status_code == 200, sent.text
        assert len(sent.json()["ids"]) == 1
    wrong = await client.post("/e/not-a-key", json={"name": "settings/hello", "data": {}})
    assert wrong.status_code == 401, wrong.text

    assert (await client.get("/v1/events")).status_code == 401
    assert (await client.get("/v1/events", headers=bearer("signkey-test-00ff"))).status_code == 401
    primary = await client.get("/v1/events", headers=bearer(KEY))
    assert primary.status_code == 200, primary.text
    assert {event["name"] for event in primary.json()["data"]} == {"settings/hello"}
    # The fallback key passes too, hashed as SDKs send it or as it is.
    fallback = await client.get("/v1/events", headers=bearer(FALLBACK))
    assert fallback.status_code == 200, fallback.text
    plain = await client.get("/v1/events", headers={"Authorization": f"Bearer {FALLBACK}"})
    assert plain.status_code == 200, plain.text


async def test_start_with_its_keys_only_in_the_environment(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(
        STEPWELL_PORT=str(port),
        STEPWELL_DATABASE_URL=f"sqlite:///{tmp_path / 'start.db'}",
        # The official name for the key, ours for the fallback: both are read.
        INNGEST_SIGNING_KEY=KEY,
        STEPWELL_SIGNING_KEY_FALLBACK=FALLBACK,
        STEPWELL_EVENT_KEY=f"{EVENT_KEY},{OTHER_EVENT_KEY}",
    )
    async with stepwell_start(tmp_path, env, port) as client:
        await check_keys(client)


async def test_start_with_its_settings_in_stepwell_toml(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "stepwell.toml").write_text(
        "[server]\n"
        f"port = {port}\n"
        f'database = "sqlite:///{tmp_path / "start.db"}"\n'
        f'signing_key = "{KEY}"\n'
        f'signing_key_fallback = "{FALLBACK}"\n'
        f'event_keys = ["{EVENT_KEY}", "{OTHER_EVENT_KEY}"]\n'
        'retention = "30d"\n',
        encoding="utf-8",
    )
    async with stepwell_start(tmp_path, clean_env(), port) as client:
        await check_keys(client)


async def test_start_without_a_signing_key_anywhere_exits_2_saying_where_to_set_one(
    tmp_path: Path,
) -> None:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "stepwell", "start", "--port", str(free_port())),
        cwd=tmp_path,
        env=clean_env(STEPWELL_EVENT_KEY=EVENT_KEY),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 2, stdout.decode() + stderr.decode()
    message = stderr.decode()
    for part in ("--signing-key", "STEPWELL_SIGNING_KEY", "INNGEST_SIGNING_KEY", "'signing_key'"):
        assert part in message


async def test_start_asks_the_dashboard_key_from_the_environment(tmp_path: Path) -> None:
    port = free_port()
    dashboard_key = "the dashboard key, long enough"
    env = clean_env(
        STEPWELL_PORT=str(port),
        STEPWELL_DATABASE_URL=f"sqlite:///{tmp_path / 'start.db'}",
        STEPWELL_SIGNING_KEY=KEY,
        STEPWELL_EVENT_KEY=EVENT_KEY,
        STEPWELL_DASHBOARD_KEY=dashboard_key,
        STEPWELL_DASHBOARD_SESSION_TTL="5m",
    )
    async with stepwell_start(tmp_path, env, port) as client:
        page = await client.get("/")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2F"
        refused = await client.post("/login", data={"key": KEY, "next": "/"})
        assert refused.status_code == 401  # the dedicated key replaces the signing key
        accepted = await client.post("/login", data={"key": dashboard_key, "next": "/"})
        assert accepted.status_code == 303, accepted.text
        assert "Max-Age=300" in accepted.headers["set-cookie"]
