"""Embedded engine on SQLite against DBOS (SQLite), measured in the same session.

Prints, for each: sequential steps/s (one run of 1,000 ``step.run``), total steps/s with 200
concurrent runs of 20 steps, and event-to-first-step latency p50/p99; then our/their ratios.
Stepwell runs twice: as it is by default (checkpointing: a step's write follows it;
docs/getting-started/embedded.md) and with ``checkpointing=False`` (each step on disk before
the next starts).
On SQLite, DBOS runs twice, in its default rollback journal and in WAL (bench/dbos_peer.py
says how), and the ratios are against the better of the two (higher concurrent steps/s).

    .venv/bin/python bench/embedded.py [--quick] [--no-peer] [--durability full|normal] [--metrics]
        [--postgres [ADMIN_URL]]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import stepwell
from bench.pg import DEFAULT_ADMIN_URL, temporary_database
from stepwell import Context

REPEATS = 3


def build_app(sequential_steps: int, steps_per_run: int, stamps: dict[str, float]) -> stepwell.App:
    app = stepwell.App("bench")

    @app.function("sequential", trigger=stepwell.on_event("bench/sequential"))
    async def sequential(ctx: Context) -> int:
        for i in range(sequential_steps):
            await ctx.step.run(f"s{i}", lambda: {"ok": True})
        return sequential_steps

    @app.function("concurrent", trigger=stepwell.on_event("bench/concurrent"))
    async def concurrent(ctx: Context) -> int:
        for i in range(steps_per_run):
            await ctx.step.run(f"s{i}", lambda: {"ok": True})
        return steps_per_run

    @app.function("latency", trigger=stepwell.on_event("bench/latency"))
    async def latency(ctx: Context) -> None:
        def stamp() -> None:
            stamps[ctx.event.data["key"]] = time.perf_counter()

        await ctx.step.run("first", stamp)

    return app


async def measure(
    database: str,
    sizes: dict[str, int],
    durability: str,
    metrics: bool = False,
    checkpointing: bool | None = None,
) -> dict[str, float]:
    stamps: dict[str, float] = {}
    app = build_app(sizes["sequential"], sizes["steps_per_run"], stamps)
    async with app.embedded(
        database, durability=durability, metrics=metrics, checkpointing=checkpointing
    ) as engine:
        sequential: list[float] = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            [event_id] = await engine.send("bench/sequential", {})
            await engine.wait_for_runs(event_id, timeout=300)
            sequential.append(sizes["sequential"] / (time.perf_counter() - started))

        concurrent: list[float] = []
        total_steps = sizes["runs"] * sizes["steps_per_run"]
        for _ in range(REPEATS):
            started = time.perf_counter()
            ids = await engine.send(
                [stepwell.Event(name="bench/concurrent") for _ in range(sizes["runs"])]
            )
            for event_id in ids:
                await engine.wait_for_runs(event_id, timeout=300)
            concurrent.append(total_steps / (time.perf_counter() - started))

        latencies: list[float] = []
        for i in range(sizes["latency_samples"]):
            key = f"k{i}"
            started = time.perf_counter()
            [event_id] = await engine.send("bench/latency", {"key": key})
            await engine.wait_for_runs(event_id, timeout=60)
            latencies.append((stamps[key] - started) * 1000)
    return summarise(sequential, concurrent, latencies)


def summarise(
    sequential: list[float], concurrent: list[float], latencies: list[float]
) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "sequential_steps_per_s": statistics.median(sequential),
        "concurrent_steps_per_s": statistics.median(concurrent),
        "latency_p50_ms": statistics.median(ordered),
        "latency_p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    }


def run_peer(
    workdir: Path, quick: bool, database: str | None = None, journal: str = "delete"
) -> dict[str, Any] | None:
    """DBOS runs in its own process (it keeps global state), in this same session."""
    command = [
        sys.executable,
        str(Path(__file__).with_name("dbos_peer.py")),
        "--workdir",
        str(workdir),
    ]
    if quick:
        command.append("--quick")
    if database:
        command += ["--database", database]
    else:
        command += ["--journal", journal]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        print(f"DBOS peer failed ({done.returncode}):\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


FIGURES = [
    ("sequential_steps_per_s", "sequential steps/s (1 run x {sequential} steps)", True),
    ("concurrent_steps_per_s", "steps/s ({runs} runs x {steps_per_run} steps)", True),
    ("latency_p50_ms", "event -> first step p50 (ms)", False),
    ("latency_p99_ms", "event -> first step p99 (ms)", False),
]


def better_peer(peers: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The DBOS configuration to quote: the one with the higher concurrent steps/s."""
    return max(peers, key=lambda p: float(p["concurrent_steps_per_s"]), default=None)


def report_peers(peers: list[dict[str, Any]], sizes: dict[str, int]) -> None:
    if len(peers) < 2:
        return
    print(f"{'DBOS, each journal':<44} " + " ".join(f"{p['journal']:>14}" for p in peers))
    for key, label, _ in FIGURES:
        print(f"{label.format(**sizes):<44} " + " ".join(f"{float(p[key]):>14.2f}" for p in peers))


def report(
    ours: dict[str, float],
    strict: dict[str, float],
    peer: dict[str, Any] | None,
    sizes: dict[str, int],
) -> None:
    peer_name = f"DBOS {peer['version']} {peer.get('journal', '')}" if peer else "DBOS (not run)"
    print(
        f"{'figure':<44} {'Stepwell':>12} {'no ckpt':>14} {peer_name:>14} "
        f"{'ratio':>8} {'ratio no ckpt':>13}"
    )
    for key, label, higher_is_better in FIGURES:
        mine, mine_strict = ours[key], strict[key]
        theirs = float(peer[key]) if peer else float("nan")
        # Above 1 means Stepwell is better, whichever way the figure points.
        ratios = [
            (value / theirs if higher_is_better else theirs / value) if peer else float("nan")
            for value in (mine, mine_strict)
        ]
        print(
            f"{label.format(**sizes):<44} {mine:>12.2f} {mine_strict:>14.2f} {theirs:>14.2f} "
            f"{ratios[0]:>7.2f}x {ratios[1]:>12.2f}x"
        )
    print(
        "(ratio = how many times better Stepwell is; medians of 3 runs; latency over "
        f"{sizes['latency_samples']} samples; no ckpt = App.embedded(checkpointing=False))"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--no-peer", action="store_true", help="skip DBOS")
    parser.add_argument("--durability", default="full", choices=["full", "normal"])
    parser.add_argument("--metrics", action="store_true", help="count Prometheus metrics")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=DEFAULT_ADMIN_URL,
        default=None,
        metavar="ADMIN_URL",
        help="run both engines on fresh PostgreSQL databases (created and dropped here)",
    )
    args = parser.parse_args()
    sizes = {"sequential": 1000, "runs": 200, "steps_per_run": 20, "latency_samples": 200}
    if args.quick:
        sizes = {"sequential": 100, "runs": 20, "steps_per_run": 20, "latency_samples": 30}
    with tempfile.TemporaryDirectory(prefix="stepwell-bench-") as tmp:
        ours_dir = Path(tmp) / "stepwell"
        peer_dir = Path(tmp) / "dbos"
        ours_dir.mkdir()
        peer_dir.mkdir()
        if args.postgres:
            with (
                temporary_database(args.postgres) as ours_db,
                temporary_database(args.postgres, "strict") as strict_db,
                temporary_database(args.postgres, "dbos") as peer_db,
            ):
                ours = asyncio.run(measure(ours_db, sizes, args.durability, args.metrics))
                strict = asyncio.run(
                    measure(strict_db, sizes, args.durability, args.metrics, checkpointing=False)
                )
                peer = None if args.no_peer else run_peer(peer_dir, args.quick, peer_db)
            print(f"Stepwell embedded and DBOS, both on PostgreSQL ({args.durability})")
        else:
            ours = asyncio.run(
                measure(
                    f"sqlite:///{ours_dir / 'stepwell.db'}", sizes, args.durability, args.metrics
                )
            )
            strict = asyncio.run(
                measure(
                    f"sqlite:///{ours_dir / 'strict.db'}",
                    sizes,
                    args.durability,
                    args.metrics,
                    checkpointing=False,
                )
            )
            peers = []
            for journal in [] if args.no_peer else ["delete", "wal"]:
                result = run_peer(peer_dir / journal, args.quick, journal=journal)
                if result is not None:
                    peers.append(result)
            report_peers(peers, sizes)
            peer = better_peer(peers)
            print(f"Stepwell embedded and DBOS, both on SQLite ({args.durability})")
    report(ours, strict, peer, sizes)


if __name__ == "__main__":
    main()
