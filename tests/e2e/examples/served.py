"""An example app as a real process, and ``stepwell dev`` syncing it, both on loopback.

``serve_example("examples.fastapi_app", ...)`` starts ``python -m <module> --port N`` with the
dev server's address in its environment, then ``stepwell dev -u`` pointed at it, and yields once
the functions are synced. Every wait is bounded; both processes are stopped on the way out.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.e2e.harness import (
    LOOPBACK,
    ManagedProcess,
    StepwellDev,
    free_port,
    wait_until,
)

REPO = Path(__file__).resolve().parents[3]
STARTUP_S = 45.0


@dataclass(frozen=True)
class Served:
    app_url: str  # the app's own origin, for its routes
    server: StepwellDev


def _env(server_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INNGEST_", "STEPWELL_"))}
    env.update(
        {
            "INNGEST_DEV": "1",
            "INNGEST_BASE_URL": server_url,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")]),
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            # The server's Connect gateway on any free port, not port + 1 (another's, maybe).
            "STEPWELL_CONNECT_PORT": "0",
        }
    )
    return env


@contextlib.contextmanager
def serve_example(module: str, workdir: Path, slugs: Sequence[str]) -> Iterator[Served]:
    app_port, server_port = free_port(), free_port()
    while server_port == app_port:
        server_port = free_port()
    app_url = f"http://{LOOPBACK}:{app_port}"
    server_url = f"http://{LOOPBACK}:{server_port}"
    env = _env(server_url)
    with contextlib.ExitStack() as cleanup:
        app = ManagedProcess.start(
            module,
            [sys.executable, "-m", module, "--host", LOOPBACK, "--port", str(app_port)],
            env=env,
            cwd=REPO,
            log_path=workdir / "app.log",
        )
        cleanup.callback(app.stop)
        server_process = ManagedProcess.start(
            "stepwell dev",
            [
                sys.executable,
                "-m",
                "stepwell",
                "dev",
                "--host",
                LOOPBACK,
                "--port",
                str(server_port),
                "--database",
                f"sqlite:///{workdir / 'dev.db'}",
                "-u",
                f"{app_url}/api/inngest",
                "--poll-interval",
                "0.5",
                "--retry-interval",
                "1",
                "--no-discovery",
            ],
            env=env,
            cwd=workdir,
            log_path=workdir / "stepwell-dev.log",
        )
        cleanup.callback(server_process.stop)
        server = StepwellDev(server_process, server_url)
        cleanup.callback(server.close)

        def logs() -> str:
            return f"{server_process.describe()}\n{app.describe()}"

        def synced() -> bool:
            app.check_alive()
            server_process.check_alive()
            try:
                return set(slugs) <= server.function_slugs()
            except (httpx.TransportError, AssertionError):
                return False

        wait_until(synced, timeout=STARTUP_S, what=f"{module} synced", interval=0.2, context=logs)
        yield Served(app_url=app_url, server=server)
