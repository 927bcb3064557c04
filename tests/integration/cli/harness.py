"""A real ``stepwell dev`` serving ``cli_app`` on a database, and the CLI run as a process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from tests.integration.server.test_cli import free_port
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}", "COLUMNS": "200"}
ENV.pop("STEPWELL_URL", None)


def stepwell(*args: str, url: str | None = None) -> tuple[int, str, str]:
    """``python -m stepwell ARGS`` (with ``STEPWELL_URL`` set when ``url`` is given)."""
    env = {**ENV, **({"STEPWELL_URL": url} if url else {})}
    done = subprocess.run(
        [sys.executable, "-m", "stepwell", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def stepwell_json(*args: str, url: str | None = None) -> Any:
    code, out, err = stepwell(*args, "--json", url=url)
    assert code == 0, out + err
    return json.loads(out)


@contextlib.asynccontextmanager
async def dev_server(database: str) -> AsyncIterator[str]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "stepwell", "dev", "--port", str(port), "--no-discovery"),
        *("--database", database, "--app", "tests.integration.cli.cli_app:app"),
        cwd=ROOT,
        env=ENV,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5.0) as client:

            async def synced() -> bool:
                if process.returncode is not None:
                    raise AssertionError("stepwell dev exited early")
                try:
                    apps = (await client.get("/v2/apps")).json()["data"]
                except (httpx.TransportError, ValueError, KeyError):
                    return False
                return any(app["functionCount"] == 2 for app in apps)

            await eventually(synced, timeout=60, interval=0.1, what="stepwell dev synced")
            yield url
    finally:
        if process.returncode is None:  # it may have exited already: its output says why
            process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode in (0, -signal.SIGTERM), output.decode()
