"""The README's run command: the example app, as real processes, on fresh SQLite files."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
EXPECTED = {"charged": True, "receipt": "r-1", "email": "e-1", "shipped": "shipped 7"}


def test_example_app_completes_the_order_embedded(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "examples.shop"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Completed {EXPECTED}"
    assert (tmp_path / ".stepwell" / "shop.db").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _until(check: object, what: str, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()  # type: ignore[operator]
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} not reached within {timeout}s")


def test_dev_server_runs_the_example_app_served_on_our_sdk(tmp_path: Path) -> None:
    """``scripts/dev``: stepwell dev with the example app synced; events sent with the CLI."""
    port = _free_port()
    origin = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stepwell",
            "dev",
            "--port",
            str(port),
            "--no-discovery",
            "--app",
            "examples.shop:app",
            "--database",
            f"sqlite:///{tmp_path / 'dev.db'}",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _until(lambda: "shop-process-order" in httpx.get(f"{origin}/dev").text, "app synced")

        def send(name: str) -> str:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "stepwell",
                    "send",
                    name,
                    "--data",
                    '{"order_id": 7}',
                    "--url",
                    origin,
                ],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            return str(httpx.Response(200, content=done.stdout).json()["ids"][0])

        order = send("shop/order.placed")

        def waiting() -> bool:
            runs = httpx.get(f"{origin}/v1/events/{order}/runs").json()["data"]
            return bool(runs) and runs[0]["status"] == "Running"

        _until(waiting, "the run is going")

        def finished() -> object:
            runs = httpx.get(f"{origin}/v1/events/{order}/runs").json()["data"]
            return runs[0] if runs and runs[0]["status"] in ("Completed", "Failed") else None

        def paid() -> object:
            # A payment that arrives before the run's wait begins (it sleeps 1 s first) does
            # not match, as in Inngest: send again until the run has taken one.
            if finished():
                return finished()
            send("shop/payment.received")
            return None

        run = _until(paid, "the order completes")
        assert isinstance(run, dict)
        assert run["status"] == "Completed", run
        assert run["output"] == EXPECTED
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(10)
