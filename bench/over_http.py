"""The server over HTTP: events/s accepted by ``POST /e/{key}``, and a 20-step function's
inter-step latency (p50/p95) and steps/s with apps on the official Python SDK and on ours.

    .venv/bin/python bench/over_http.py [--quick]

Everything runs here, over loopback: ``stepwell dev`` and each app are real processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench.pg import DEFAULT_ADMIN_URL, temporary_database

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} not ready within {timeout}s")


@contextmanager
def process(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("w") as out:
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            yield
        finally:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(10)


POSTGRES_ADMIN: str | None = None
_databases: contextlib.ExitStack = contextlib.ExitStack()


def database_for(tmp: Path, port: int) -> str:
    """A fresh database for one server: SQLite, or PostgreSQL with ``--postgres``."""
    if POSTGRES_ADMIN is None:
        return f"sqlite:///{tmp / f'dev-{port}.db'}"
    return _databases.enter_context(temporary_database(POSTGRES_ADMIN, f"http{port}"))


@contextmanager
def dev_server(tmp: Path, sdk_urls: list[str]) -> Iterator[str]:
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "stepwell",
        "dev",
        "--port",
        str(port),
        "--no-discovery",
        "--database",
        database_for(tmp, port),
        "--poll-interval",
        "1",
    ]
    for url in sdk_urls:
        command += ["-u", url]
    origin = f"http://127.0.0.1:{port}"
    with process(command, dict(os.environ), tmp / f"dev-{port}.log"):
        wait_until(lambda: httpx.get(f"{origin}/health").status_code == 200, 30, "server")
        yield origin


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"name":"bench/ingest","data":{"i":1}}'
wrk.headers["Content-Type"] = "application/json"
"""


def events_per_second_wrk(origin: str, tmp: Path, seconds: int, connections: int) -> float:
    """wrk (C) as the client, so the load generator does not compete for Python's GIL."""
    script = tmp / "post.lua"
    script.write_text(WRK_SCRIPT)
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-s", str(script), f"{origin}/e/key"],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    assert "Non-2xx" not in done.stdout, done.stdout
    line = next(x for x in done.stdout.splitlines() if x.startswith("Requests/sec:"))
    return float(line.split()[1])


async def events_per_second(origin: str, total: int, concurrency: int) -> float:
    async with httpx.AsyncClient(timeout=30) as client:
        queue = iter(range(total))

        async def worker() -> None:
            for i in queue:
                response = await client.post(
                    f"{origin}/e/key", json={"name": "bench/ingest", "data": {"i": i}}
                )
                assert response.status_code == 200, response.text

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


def steps_over_http(origin: str, runs: int, function_slug: str, event: str) -> dict[str, float]:
    """Start ``runs`` runs at once; gaps are between consecutive step starts of a run."""
    with httpx.Client(timeout=30) as client:
        wait_until(
            lambda: function_slug in client.get(f"{origin}/dev").text, 30, f"{function_slug} sync"
        )
        started = time.perf_counter()
        body = [{"name": event, "data": {"n": i}} for i in range(runs)]
        ids = client.post(f"{origin}/e/key", json=body).json()["ids"]
        outputs: list[list[float]] = []
        deadline = time.monotonic() + 300
        for event_id in ids:
            while True:
                runs_of = client.get(f"{origin}/v1/events/{event_id}/runs").json()["data"]
                if runs_of and runs_of[0]["status"] in ("Completed", "Failed"):
                    assert runs_of[0]["status"] == "Completed", runs_of[0]
                    outputs.append(runs_of[0]["output"])
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("runs did not finish")
                time.sleep(0.01)
        elapsed = time.perf_counter() - started
    gaps = sorted((b - a) * 1000 for stamps in outputs for a, b in itertools.pairwise(stamps))
    return {
        "p50_ms": statistics.median(gaps),
        "p95_ms": gaps[int(len(gaps) * 0.95)],
        "steps_per_s": sum(len(s) for s in outputs) / elapsed,
    }


def app_process(module: str, port: int, origin: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        module,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--app-dir",
        str(ROOT),
    ]


def measure_app(
    tmp: Path, module: str, slug: str, event: str, sizes: dict[str, int]
) -> dict[str, dict[str, float]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/inngest"
    results: dict[str, dict[str, float]] = {}
    server_port = free_port()
    origin = f"http://127.0.0.1:{server_port}"
    env = {**os.environ, "INNGEST_DEV": "1", "INNGEST_BASE_URL": origin}
    command = [
        sys.executable,
        "-m",
        "stepwell",
        "dev",
        "--port",
        str(server_port),
        "--no-discovery",
        "--database",
        database_for(tmp, server_port),
        "--poll-interval",
        "1",
        "-u",
        url,
    ]
    with (
        process(app_process(module, port, origin), env, tmp / f"app-{port}.log"),
        process(command, dict(os.environ), tmp / f"dev-{server_port}.log"),
    ):
        wait_until(lambda: httpx.get(f"{origin}/health").status_code == 200, 30, "server")
        results["one run"] = steps_over_http(origin, 1, slug, event)
        results[f"{sizes['runs']} runs"] = steps_over_http(origin, sizes["runs"], slug, event)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_ADMIN_URL,
        default=None,
        metavar="ADMIN_URL",
        help="servers on fresh PostgreSQL databases instead of SQLite files",
    )
    args = parser.parse_args()
    global POSTGRES_ADMIN
    POSTGRES_ADMIN = args.postgres
    sizes = {"events": 2000 if args.quick else 20000, "runs": 5 if args.quick else 20}
    apps = [
        (
            "official inngest 0.5.19 (Python)",
            "bench.apps.official_py_app:app",
            "benchpy-steps20",
            "bench/steps20",
        )
    ]
    ours = ROOT / "bench" / "apps" / "stepwell_app.py"
    if ours.exists():
        apps.append(
            (
                "Stepwell SDK (served over HTTP)",
                "bench.apps.stepwell_app:app",
                "benchsw-steps20",
                "bench/sw-steps20",
            )
        )
    print(f"servers on {'PostgreSQL' if args.postgres else 'SQLite'}")
    with _databases, tempfile.TemporaryDirectory(prefix="stepwell-http-bench-") as name:
        tmp = Path(name)
        with dev_server(tmp, []) as origin:
            if shutil.which("wrk"):
                seconds = 3 if args.quick else 10
                rate = events_per_second_wrk(origin, tmp, seconds, connections=32)
                how = f"wrk, {seconds} s, 32 connections, one event per request"
            else:
                rate = asyncio.run(events_per_second(origin, sizes["events"], concurrency=32))
                how = (
                    "httpx client; install wrk for a client that is not the bottleneck; "
                    f"{sizes['events']} requests, 32 concurrent"
                )
        print(f"POST /e/{{key}}: {rate:,.0f} events/s accepted, each durable ({how})")
        print(f"{'app':<36} {'load':<10} {'p50 ms':>8} {'p95 ms':>8} {'steps/s':>9}")
        for label, module, slug, event in apps:
            for load, figures in measure_app(tmp, module, slug, event, sizes).items():
                print(
                    f"{label:<36} {load:<10} {figures['p50_ms']:>8.2f} "
                    f"{figures['p95_ms']:>8.2f} {figures['steps_per_s']:>9.1f}"
                )
        print(
            "(inter-step latency: between consecutive step starts of a run; Inngest "
            "documents 50-250 ms between steps over HTTP)"
        )


if __name__ == "__main__":
    main()
