"""The server over HTTP: events/s accepted by ``POST /e/{key}``, and a 20-step function's
inter-step latency (p50/p95), steps/s and server CPU per step, with apps on the official
Python SDK and on ours, beside Restate (its server from npm, a restate-sdk service on
hypercorn) doing the same 20 sequential steps per invocation.

    PYTHONPATH=src:. .venv/bin/python -m bench.over_http [--quick] [--rounds N]
        [--peers official,ours,ours-per-call,restate] [--no-ingest]

Everything runs here, over loopback: ``stepwell dev``, ``restate-server`` and each app are
real processes. All stacks start once; each round measures every peer in turn (the order
rotates between rounds), and the table gives each figure's median over the rounds, so that
the ratios compare figures taken under the same background load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.pg import DEFAULT_ADMIN_URL, temporary_database

ROOT = Path(__file__).resolve().parents[1]


_handed_out: set[int] = set()


def free_port() -> int:
    """A free port below the kernel's ephemeral range (32768 up): a port the kernel picks
    (bind to 0) is in that range, and with other work on the machine opening connections an
    outgoing socket often took it before the server bound it ("Address already in use": the
    server of a stack failed to start in 2 of 12 tries here)."""
    while True:
        port = random.randrange(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
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
        wait_until(lambda: httpx.get(f"{origin}/health").status_code == 200, 120, "server")
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


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STEPS = 20


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far, from /proc."""
    # Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy(seconds: float = 1.0) -> float:
    """Fraction of both cores busy over ``seconds`` (everyone's work), from /proc/stat."""

    def sample() -> tuple[int, int]:
        values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(1, total1 - total0)


@dataclass
class Batch:
    """One batch of runs started at once: each run's step-start stamps, and the CPU used."""

    stamps: list[list[float]]
    elapsed_s: float
    server_cpu_s: float
    app_cpu_s: float


@dataclass
class Peer:
    label: str
    server_pid: int
    app_pid: int
    start_batch: Callable[[int], list[list[float]]]
    rounds: list[dict[str, dict[str, float]]] = field(default_factory=list)
    origin: str = ""
    """The server's origin, for an Inngest-protocol stack."""

    def batch(self, runs: int) -> Batch:
        server0, app0 = cpu_seconds(self.server_pid), cpu_seconds(self.app_pid)
        started = time.perf_counter()
        stamps = self.start_batch(runs)
        elapsed = time.perf_counter() - started
        return Batch(
            stamps,
            elapsed,
            cpu_seconds(self.server_pid) - server0,
            cpu_seconds(self.app_pid) - app0,
        )


def figures(batches: list[Batch]) -> dict[str, float]:
    """Gaps are between consecutive step starts of a run; CPU is per step, in ms."""
    gaps = sorted(
        (b - a) * 1000
        for batch in batches
        for stamps in batch.stamps
        for a, b in itertools.pairwise(stamps)
    )
    steps = sum(len(s) for batch in batches for s in batch.stamps)
    assert steps == sum(len(b.stamps) for b in batches) * STEPS, "a run lost steps"
    return {
        "p50_ms": statistics.median(gaps),
        "p95_ms": gaps[min(len(gaps) - 1, int(len(gaps) * 0.95))],
        "steps_per_s": steps / sum(b.elapsed_s for b in batches),
        "server_cpu_ms": 1000 * sum(b.server_cpu_s for b in batches) / steps,
        "app_cpu_ms": 1000 * sum(b.app_cpu_s for b in batches) / steps,
    }


def inngest_batch(origin: str, event: str) -> Callable[[int], list[list[float]]]:
    """Start runs with one ``POST /e/{key}`` of ``runs`` events; wait for all to finish.

    Every 20 ms, one ``GET /v1/runs`` lists the runs queued since the post that have ended,
    whatever their number: ~50 cheap GETs/s, the same for every Inngest-protocol app (their
    cost is in the server CPU figures; see PROFILE.md). Polling each event in turn took up to
    one GET per run after the first had ended, 20-40 ms at the end of a 20-run batch that
    Restate's client, waiting on its calls, does not pay."""
    client = httpx.Client(timeout=30)

    def start(runs: int) -> list[list[float]]:
        body = [{"name": event, "data": {"n": i}} for i in range(runs)]
        since_ms = int(time.time() * 1000)  # the server's clock is this machine's
        ids = client.post(f"{origin}/e/key", json=body).json()["ids"]
        outputs: dict[str, list[float]] = {}
        query = {"from": str(since_ms), "status": "Completed,Failed", "limit": str(2 * runs)}
        deadline = time.monotonic() + 300
        while True:
            for run in client.get(f"{origin}/v1/runs", params=query).json()["data"]:
                if run["event_id"] in ids:
                    assert run["status"] == "Completed", run
                    outputs[run["event_id"]] = run["output"]
            if len(outputs) == len(ids):
                return [outputs[event_id] for event_id in ids]
            if time.monotonic() > deadline:
                raise TimeoutError("runs did not finish")
            time.sleep(0.02)

    return start


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


def stepwell_dev_command(port: int, database: str, sdk_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "stepwell",
        "dev",
        "--port",
        str(port),
        "--no-discovery",
        "--database",
        database,
        "--poll-interval",
        "1",
        "-u",
        sdk_url,
    ]


def server_pid_of(child: subprocess.Popen[bytes]) -> int:
    """The server's own pid: the child itself, or (under ``py-spy record --``) its child."""
    deadline = time.monotonic() + 10
    while True:
        children = Path(f"/proc/{child.pid}/task/{child.pid}/children").read_text().split()
        if "py-spy" not in Path(f"/proc/{child.pid}/cmdline").read_bytes().decode():
            return child.pid
        if children:
            return int(children[0])
        if time.monotonic() > deadline:
            raise TimeoutError("no server process under py-spy")
        time.sleep(0.05)


@contextmanager
def inngest_stack(
    tmp: Path,
    label: str,
    module: str,
    slug: str,
    event: str,
    wrap: list[str] | None = None,
    app_env: dict[str, str] | None = None,
) -> Iterator[Peer]:
    """``stepwell dev`` and one app on uvicorn; ``wrap`` prefixes the server's command,
    ``app_env`` adds to the app's environment."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/inngest"
    server_port = free_port()
    origin = f"http://127.0.0.1:{server_port}"
    env = {**os.environ, "INNGEST_DEV": "1", "INNGEST_BASE_URL": origin, **(app_env or {})}
    command = (wrap or []) + stepwell_dev_command(server_port, database_for(tmp, server_port), url)
    with (
        process(app_process(module, port, origin), env, tmp / f"app-{port}.log") as app,
        process(command, dict(os.environ), tmp / f"dev-{server_port}.log") as server,
    ):
        wait_until(lambda: httpx.get(f"{origin}/health").status_code == 200, 120, "server")
        wait_until(lambda: slug in httpx.get(f"{origin}/dev").text, 120, f"{slug} sync")
        batch = inngest_batch(origin, event)
        yield Peer(label, server_pid_of(server), app.pid, batch, origin=origin)


# --- Restate -------------------------------------------------------------------------------

RESTATE_DIR = ROOT / "bench" / "restate"


def restate_binary() -> Path:
    """The restate-server binary from bench/restate's npm lock (``npm ci`` on first use)."""
    arch = {"x86_64": "x64", "aarch64": "arm64", "arm64": "arm64"}[platform.machine()]
    package = f"restate-server-{sys.platform}-{arch}"
    binary = RESTATE_DIR / "node_modules" / "@restatedev" / package / "bin" / "restate-server"
    if not binary.exists():
        # --ignore-scripts: the package's only install script is a usage-analytics ping.
        subprocess.run(
            ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=RESTATE_DIR,
            check=True,
            timeout=600,
        )
    return binary


def restate_version() -> str:
    lock = json.loads((RESTATE_DIR / "package-lock.json").read_text())
    version: str = lock["packages"]["node_modules/@restatedev/restate-server"]["version"]
    return version


RESTATE_CONFIG = """\
listen-mode = "tcp"
disable-telemetry = true
node-name = "bench"
base-dir = "{base}"
bind-address = "127.0.0.1:{fabric}"
advertised-address = "http://127.0.0.1:{fabric}/"

[ingress]
bind-address = "127.0.0.1:{ingress}"

[admin]
bind-address = "127.0.0.1:{admin}"
"""

# Restate's recommended hypercorn settings for a service, in one process like our uvicorn
# apps (workers = 0: no supervisor process, so /proc figures are the app's) and on uvloop,
# the event loop uvicorn picks for them.
HYPERCORN_CONFIG = """\
bind = "127.0.0.1:{port}"
h2_max_concurrent_streams = 2147483647
keep_alive_max_requests = 2147483647
keep_alive_timeout = 2147483647
workers = 0
worker_class = "uvloop"
"""


def restate_command(binary: Path, config: Path, tmp: Path) -> list[str]:
    """restate-server asks GitHub for its latest release at start-up, whatever its settings
    say. Where we may, it runs in a mount namespace whose /etc/hosts sends that name to
    127.0.0.1, so it fails at once and nothing leaves this machine."""
    command = [str(binary), "--config-file", str(config), "--no-logo"]
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return command
    hosts = tmp / "restate-hosts"
    hosts.write_text(Path("/etc/hosts").read_text() + "\n127.0.0.1 api.github.com\n")
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, str(hosts), *command]


def restate_batch(ingress: str) -> Callable[[int], list[list[float]]]:
    """Call the handler ``runs`` times at once over the ingress; each call answers when done."""

    async def calls(runs: int) -> list[list[float]]:
        async with httpx.AsyncClient(timeout=300) as client:

            async def one(n: int) -> list[float]:
                response = await client.post(f"{ingress}/Bench/steps20", json=n)
                assert response.status_code == 200, response.text
                stamps: list[float] = response.json()
                return stamps

            return list(await asyncio.gather(*(one(n) for n in range(runs))))

    def start(runs: int) -> list[list[float]]:
        return asyncio.run(calls(runs))

    return start


@contextmanager
def restate_stack(tmp: Path) -> Iterator[Peer]:
    binary = restate_binary()
    ports = {name: free_port() for name in ("fabric", "ingress", "admin", "service")}
    base = tmp / "restate-data"
    config = tmp / "restate.toml"
    config.write_text(RESTATE_CONFIG.format(base=base, **ports))
    hypercorn_config = tmp / "hypercorn.toml"
    hypercorn_config.write_text(HYPERCORN_CONFIG.format(port=ports["service"]))
    admin = f"http://127.0.0.1:{ports['admin']}"
    ingress = f"http://127.0.0.1:{ports['ingress']}"
    service = [
        sys.executable,
        "-m",
        "hypercorn",
        "--config",
        str(hypercorn_config),
        "bench.apps.restate_app:app",
    ]
    with (
        process(service, dict(os.environ), tmp / "restate-app.log") as app,
        process(
            restate_command(binary, config, tmp), dict(os.environ), tmp / "restate.log"
        ) as server,
    ):
        wait_until(lambda: httpx.get(f"{admin}/health").status_code == 200, 60, "restate")
        # The ingress answers once the cluster is provisioned and its partitions are led.
        wait_until(lambda: httpx.get(f"{ingress}/restate/health").status_code == 200, 60, "ingress")
        registered = httpx.post(
            f"{admin}/deployments", json={"uri": f"http://127.0.0.1:{ports['service']}"}, timeout=30
        )
        assert registered.status_code in (200, 201), registered.text
        start = restate_batch(ingress)
        deadline = time.monotonic() + 30
        while True:  # the new deployment reaches the ingress a moment after registration
            try:
                start(1)
                break
            except (AssertionError, httpx.HTTPError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        # unshare and sh exec in place, so the child's pid is restate-server's own.
        assert "restate-server" in Path(f"/proc/{server.pid}/cmdline").read_text()
        yield Peer(f"Restate {restate_version()} (restate-sdk)", server.pid, app.pid, start)


# --- main ----------------------------------------------------------------------------------

PEERS = ("official", "ours", "ours-per-call", "restate")


def peer_stacks(tmp: Path, names: list[str]) -> list[contextlib.AbstractContextManager[Peer]]:
    stacks: list[contextlib.AbstractContextManager[Peer]] = []
    for name in names:
        if name == "official":
            stacks.append(
                inngest_stack(
                    tmp,
                    "official inngest 0.5.19 (Python)",
                    "bench.apps.official_py_app:app",
                    "benchpy-steps20",
                    "bench/steps20",
                )
            )
        elif name == "ours":
            stacks.append(
                inngest_stack(
                    tmp,
                    "Stepwell SDK (served over HTTP, checkpointing: the default)",
                    "bench.apps.stepwell_app:app",
                    "benchsw-steps20",
                    "bench/sw-steps20",
                )
            )
        elif name == "ours-per-call":
            # Our SDK as it was before checkpointing: one HTTP round trip per step.
            stacks.append(
                inngest_stack(
                    tmp,
                    "Stepwell SDK, one call per step (STEPWELL_CHECKPOINT=0)",
                    "bench.apps.stepwell_app:app",
                    "benchsw-steps20",
                    "bench/sw-steps20",
                    app_env={"STEPWELL_CHECKPOINT": "0"},
                )
            )
        elif name == "restate":
            stacks.append(restate_stack(tmp))
        else:
            raise SystemExit(f"unknown peer {name!r}: choose from {', '.join(PEERS)}")
    return stacks


def measure_round(peer: Peer, sizes: dict[str, int]) -> dict[str, dict[str, float]]:
    one = [peer.batch(1) for _ in range(sizes["sequential_runs"])]
    many = [peer.batch(sizes["runs"])]
    return {"one run": figures(one), f"{sizes['runs']} runs": figures(many)}


def median_of(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {
        load: {key: statistics.median(r[load][key] for r in rounds) for key in rounds[0][load]}
        for load in rounds[0]
    }


def ingest(tmp: Path, sizes: dict[str, int], quick: bool) -> None:
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
    print(f"POST /e/{{key}}: {rate:,.0f} events/s accepted, each durable ({how})")


def ratio(peer: Peer, restate: Peer, key: str, load: str) -> float:
    """How many times better than Restate: per round, then the median (same background load)."""
    higher_is_better = key == "steps_per_s"
    values = [
        ours[load][key] / theirs[load][key]
        if higher_is_better
        else theirs[load][key] / ours[load][key]
        for ours, theirs in zip(peer.rounds, restate.rounds, strict=True)
    ]
    return statistics.median(values)


def report(peers: list[Peer], sizes: dict[str, int]) -> None:
    print(
        f"{'app':<36} {'load':<8} {'p50 ms':>7} {'p95 ms':>7} {'steps/s':>8} "
        f"{'srv CPU':>8} {'app CPU':>8}"
    )
    medians = {peer.label: median_of(peer.rounds) for peer in peers}
    for label, loads in medians.items():
        for load, f in loads.items():
            print(
                f"{label:<36} {load:<8} {f['p50_ms']:>7.2f} {f['p95_ms']:>7.2f} "
                f"{f['steps_per_s']:>8.1f} {f['server_cpu_ms']:>8.2f} {f['app_cpu_ms']:>8.2f}"
            )
    print(
        f"(medians of {len(peers[0].rounds)} rounds; 'one run': {sizes['sequential_runs']} runs "
        f"one after another; inter-step gaps between consecutive step starts of a run; CPU in "
        "ms per step of the server process and of the app process, from /proc)"
    )
    restate = next((p for p in peers if p.label.startswith("Restate")), None)
    if restate is None:
        return
    many = f"{sizes['runs']} runs"
    for peer in peers:
        if peer is restate:
            continue

        print(
            f"{peer.label} vs Restate: {many} steps/s "
            f"{ratio(peer, restate, 'steps_per_s', many):.2f}x, "
            f"p95 {ratio(peer, restate, 'p95_ms', many):.2f}x, "
            f"one-run p50 {ratio(peer, restate, 'p50_ms', 'one run'):.2f}x, "
            f"server CPU/step {ratio(peer, restate, 'server_cpu_ms', many):.2f}x "
            "(>1 = better than Restate)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5 runs at once, one round")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5; quick 1)")
    parser.add_argument("--runs", type=int, default=None, help="runs at once (default 20)")
    parser.add_argument(
        "--peers", default=",".join(PEERS), help=f"comma-separated, from {', '.join(PEERS)}"
    )
    parser.add_argument("--no-ingest", action="store_true", help="skip the events/s figure")
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
    sizes = {
        "events": 2000 if args.quick else 20000,
        "runs": args.runs or (5 if args.quick else 20),
        "sequential_runs": 2 if args.quick else 5,
    }
    rounds = args.rounds or (1 if args.quick else 5)
    names = [n.strip() for n in args.peers.split(",") if n.strip()]
    load_before = os.getloadavg()
    busy_before = machine_busy()
    print(
        f"servers on {'PostgreSQL' if args.postgres else 'SQLite'}; machine before: load "
        f"{load_before[0]:.2f} (1 min) on {os.cpu_count()} cores, {busy_before:.0%} busy"
    )
    with (
        _databases,
        tempfile.TemporaryDirectory(prefix="stepwell-http-bench-") as name,
        contextlib.ExitStack() as stacks,
    ):
        tmp = Path(name)
        if not args.no_ingest:
            ingest(tmp, sizes, args.quick)
        peers = [stacks.enter_context(stack) for stack in peer_stacks(tmp, names)]
        for peer in peers:  # warm up: imports, connections, the first run's set-up
            peer.batch(2)
        for index in range(rounds):
            order = peers[index % len(peers) :] + peers[: index % len(peers)]
            for peer in order:
                peer.rounds.append(measure_round(peer, sizes))
        report(peers, sizes)
    print(
        f"machine after: load {os.getloadavg()[0]:.2f} (1 min); Inngest documents 50-250 ms "
        "between steps over HTTP"
    )


if __name__ == "__main__":
    main()
