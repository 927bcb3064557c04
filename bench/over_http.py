"""The server over HTTP: events/s accepted by ``POST /e/{key}``, and a 20-step function's
inter-step latency (p50/p95), steps/s and CPU time per step (app and server processes) with
apps on the official Python SDK and on ours (checkpointing, and one call per step with
``STEPWELL_CHECKPOINT=0``), and the same function in embedded mode for comparison.

    .venv/bin/python bench/over_http.py [--quick] [--rounds N] [--only-ours]

Everything runs here, over loopback: ``stepwell dev`` and each app are real processes. Each
round measures every app in turn; the figures are medians over the rounds.
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
def process(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("w") as out:
        child = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            yield child
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


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time the processes (and children they waited for) have used."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def steps_over_http(
    origin: str, runs: int, function_slug: str, event: str, pids: list[int]
) -> dict[str, float]:
    """Start ``runs`` runs at once; gaps are between consecutive step starts of a run."""
    with httpx.Client(timeout=30) as client:
        wait_until(
            lambda: function_slug in client.get(f"{origin}/dev").text, 30, f"{function_slug} sync"
        )
        cpu_before = cpu_seconds(pids)
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
        cpu = cpu_seconds(pids) - cpu_before
    return figures_of(outputs, elapsed, cpu)


def figures_of(outputs: list[list[float]], elapsed: float, cpu: float) -> dict[str, float]:
    gaps = sorted((b - a) * 1000 for stamps in outputs for a, b in itertools.pairwise(stamps))
    steps = sum(len(s) for s in outputs)
    return {
        "p50_ms": statistics.median(gaps),
        "p95_ms": gaps[int(len(gaps) * 0.95)],
        "steps_per_s": steps / elapsed,
        "cpu_ms_per_step": cpu * 1000 / steps,
    }


async def steps_embedded(tmp: Path, sizes: dict[str, int]) -> dict[str, dict[str, float]]:
    """The same 20-step function in embedded mode (this process, SQLite), the same loads."""
    import stepwell

    app = stepwell.App("benchemb")

    @app.function("steps20", trigger=stepwell.on_event("bench/emb-steps20"))
    async def steps20(ctx: stepwell.Context) -> list[float]:
        return [await ctx.step.run(f"s{i}", time.time) for i in range(20)]

    results: dict[str, dict[str, float]] = {}
    async with app.embedded(f"sqlite:///{tmp / f'embedded-{free_port()}.db'}") as engine:
        for load, runs in (("one run", 1), (f"{sizes['runs']} runs", sizes["runs"])):
            cpu_before = time.process_time()
            started = time.perf_counter()
            ids = await engine.send(
                [stepwell.Event(name="bench/emb-steps20", data={"n": i}) for i in range(runs)]
            )
            outputs = []
            for event_id in ids:
                [run] = await engine.wait_for_runs(event_id, timeout=300)
                outputs.append(run.output)
            elapsed = time.perf_counter() - started
            results[load] = figures_of(outputs, elapsed, time.process_time() - cpu_before)
    return results


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
    tmp: Path, module: str, slug: str, event: str, sizes: dict[str, int], extra_env: dict[str, str]
) -> dict[str, dict[str, float]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/inngest"
    results: dict[str, dict[str, float]] = {}
    server_port = free_port()
    origin = f"http://127.0.0.1:{server_port}"
    env = {**os.environ, "INNGEST_DEV": "1", "INNGEST_BASE_URL": origin, **extra_env}
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
        process(app_process(module, port, origin), env, tmp / f"app-{port}.log") as app,
        process(command, dict(os.environ), tmp / f"dev-{server_port}.log") as server,
    ):
        wait_until(lambda: httpx.get(f"{origin}/health").status_code == 200, 30, "server")
        pids = [app.pid, server.pid]
        results["one run"] = steps_over_http(origin, 1, slug, event, pids)
        results[f"{sizes['runs']} runs"] = steps_over_http(origin, sizes["runs"], slug, event, pids)
    return results


App = tuple[str, str, str, str, dict[str, str]]
"""label, uvicorn module, function slug, event name, environment for the app's process."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every app (medians)")
    parser.add_argument("--only-ours", action="store_true", help="skip the official SDK's app")
    parser.add_argument("--no-ingest", action="store_true", help="skip POST /e/{key}")
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
    apps: list[App] = []
    if not args.only_ours:
        official = ("bench.apps.official_py_app:app", "benchpy-steps20", "bench/steps20")
        apps.append(("official inngest 0.5.19 (Python)", *official, {}))
    ours = ("bench.apps.stepwell_app:app", "benchsw-steps20", "bench/sw-steps20")
    apps.append(("Stepwell SDK, checkpointing", *ours, {}))
    apps.append(("Stepwell SDK, one call per step", *ours, {"STEPWELL_CHECKPOINT": "0"}))
    print(f"servers on {'PostgreSQL' if args.postgres else 'SQLite'}; {args.rounds} rounds")
    with _databases, tempfile.TemporaryDirectory(prefix="stepwell-http-bench-") as name:
        tmp = Path(name)
        if not args.no_ingest:
            print(f"POST /e/{{key}}: {ingest(tmp, sizes, args.quick)}")
        rounds: dict[tuple[str, str], list[dict[str, float]]] = {}
        for _ in range(args.rounds):
            for label, module, slug, event, env in apps:
                for load, figures in measure_app(tmp, module, slug, event, sizes, env).items():
                    rounds.setdefault((label, load), []).append(figures)
            for load, figures in asyncio.run(steps_embedded(tmp, sizes)).items():
                rounds.setdefault(("Stepwell embedded (same function)", load), []).append(figures)
        print(
            f"{'app':<36} {'load':<10} {'p50 ms':>8} {'p95 ms':>8} {'steps/s':>9} "
            f"{'CPU ms/step':>12}"
        )
        for (label, load), measured in rounds.items():
            median = {k: statistics.median(m[k] for m in measured) for k in measured[0]}
            print(
                f"{label:<36} {load:<10} {median['p50_ms']:>8.2f} {median['p95_ms']:>8.2f} "
                f"{median['steps_per_s']:>9.1f} {median['cpu_ms_per_step']:>12.2f}"
            )
        print(
            "(inter-step latency: between consecutive step starts of a run; Inngest "
            "documents 50-250 ms between steps over HTTP; CPU: the app's and the server's "
            "processes together, or this process for embedded)"
        )


def ingest(tmp: Path, sizes: dict[str, int], quick: bool) -> str:
    with dev_server(tmp, []) as origin:
        if shutil.which("wrk"):
            seconds = 3 if quick else 10
            rate = events_per_second_wrk(origin, tmp, seconds, connections=32)
            how = f"wrk, {seconds} s, 32 connections, one event per request"
        else:
            rate = asyncio.run(events_per_second(origin, sizes["events"], concurrency=32))
            how = (
                "httpx client; install wrk for a client that is not the bottleneck; "
                f"{sizes['events']} requests, 32 concurrent"
            )
    return f"{rate:,.0f} events/s accepted, each durable ({how})"


if __name__ == "__main__":
    main()
