"""Peer benchmark: DBOS (PyPI ``dbos==3.4.0``) on a SQLite system database.

Run as a subprocess by our benchmark so both products are measured in the same run:

    python bench/dbos_peer.py --workdir DIR [--quick] [--journal delete|wal]

The last stdout line is one JSON object; DBOS logs and progress go to stderr.

How DBOS is driven (chosen by measuring the alternatives on this workload):
sync ``@DBOS.workflow`` / ``@DBOS.step`` functions, started with
``DBOS.start_workflow`` (each run executes on DBOS's own executor thread pool)
and awaited with ``handle.get_result()``. No queue. Async workflows with
``DBOS.start_workflow_async`` + asyncio.gather were ~15% slower for concurrent
runs and ~35% slower for sequential steps; a ``DBOS.register_queue`` queue
matched threads within noise, but only with a polling interval cut from the
default 1 s, and its handles poll for results. So threads are the simplest and
fastest idiomatic choice.

SQLite journal: DBOS has no setting for it. Its engine sets only busy_timeout and
foreign_keys on each connection, so the file keeps SQLite's default rollback journal
(``delete``). ``--journal wal`` creates the file in WAL mode before DBOS opens it (the mode
is stored in the file, so every connection DBOS makes then uses it); synchronous stays at
SQLite's default, FULL, as with our engine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from dbos import DBOS

DB_FILE = "dbos_sys.sqlite"


# Workflows and steps are registered at import time, before DBOS() is created.
@DBOS.step()
def tiny_step(i: int) -> dict[str, int]:
    return {"i": i, "sq": i * i}


@DBOS.workflow()
def steps_workflow(n: int) -> int:
    total = 0
    for i in range(n):
        total += tiny_step(i)["i"]
    return total


@DBOS.step()
def stamp_step() -> float:
    # Records when the first step's body begins; the value is durably stored as its output.
    return time.perf_counter()


@DBOS.workflow()
def latency_workflow() -> float:
    return stamp_step()


def sequential_steps_per_s(n_steps: int, repeats: int = 3) -> float:
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        DBOS.start_workflow(steps_workflow, n_steps).get_result()
        rates.append(n_steps / (time.perf_counter() - t0))
    return statistics.median(rates)


def concurrent_steps_per_s(n_runs: int, n_steps: int, repeats: int = 3) -> float:
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        # start_workflow returns at once; each run proceeds on a DBOS executor thread.
        handles = [DBOS.start_workflow(steps_workflow, n_steps) for _ in range(n_runs)]
        for handle in handles:
            handle.get_result()  # a future, so no result polling
        rates.append(n_runs * n_steps / (time.perf_counter() - t0))
    return statistics.median(rates)


def latencies_ms(samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        t0 = time.perf_counter()
        first_step_began = DBOS.start_workflow(latency_workflow).get_result()
        out.append((first_step_began - t0) * 1000.0)
    return out


def percentile(values: list[float], pct: int) -> float:
    # Linear interpolation between closest ranks (same as numpy's default).
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def fresh_db_url(workdir: Path, journal: str = "delete") -> str:
    workdir.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-journal", "-wal", "-shm"):
        (workdir / (DB_FILE + suffix)).unlink(missing_ok=True)
    if journal != "delete":
        with contextlib.closing(sqlite3.connect(workdir / DB_FILE)) as db:
            (mode,) = db.execute(f"PRAGMA journal_mode={journal}").fetchone()
            assert mode == journal, mode
    return f"sqlite:///{(workdir / DB_FILE).resolve()}"


def journal_mode(workdir: Path) -> str:
    with contextlib.closing(sqlite3.connect(workdir / DB_FILE)) as db:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
        return str(mode)


def run(
    workdir: Path, quick: bool, database: str | None = None, journal: str = "delete"
) -> dict[str, Any]:
    scale = 10 if quick else 1
    seq_steps, conc_runs, conc_steps = 1000 // scale, 200 // scale, 20
    samples = 30 if quick else 200
    # DBOS defaults otherwise (no pragma tuning): the out-of-the-box peer, in either journal.
    DBOS(
        config={
            "name": "stepwell-peer",
            "system_database_url": database or fresh_db_url(workdir, journal),
            "log_level": "WARNING",
        }
    )
    DBOS.launch()
    try:
        # Warm up lazy imports and connection pools so the first timed run is not penalised.
        for _ in range(3):
            DBOS.start_workflow(steps_workflow, 5).get_result()
            DBOS.start_workflow(latency_workflow).get_result()
        t0 = time.perf_counter()
        seq = sequential_steps_per_s(seq_steps)
        print(f"sequential: {seq:.0f} steps/s ({time.perf_counter() - t0:.1f}s)", file=sys.stderr)
        t0 = time.perf_counter()
        conc = concurrent_steps_per_s(conc_runs, conc_steps)
        print(f"concurrent: {conc:.0f} steps/s ({time.perf_counter() - t0:.1f}s)", file=sys.stderr)
        lat = latencies_ms(samples)
    finally:
        DBOS.destroy()
    return {
        "peer": "dbos",
        "version": metadata.version("dbos"),
        "journal": "postgres" if database else journal_mode(workdir),
        "quick": quick,
        "sequential_steps_per_s": round(seq, 1),
        "concurrent_steps_per_s": round(conc, 1),
        "latency_p50_ms": round(percentile(lat, 50), 3),
        "latency_p99_ms": round(percentile(lat, 99), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir",
        type=Path,
        required=True,
        help="directory for the SQLite system database (recreated)",
    )
    parser.add_argument("--quick", action="store_true", help="sizes / 10, for smoke tests")
    parser.add_argument(
        "--database", default=None, help="a PostgreSQL URL for DBOS instead of SQLite"
    )
    parser.add_argument(
        "--journal",
        default="delete",
        choices=["delete", "wal"],
        help="SQLite journal mode of DBOS's database (DBOS itself leaves the default, delete)",
    )
    args = parser.parse_args()
    version = metadata.version("dbos")
    if version != "3.4.0":
        print(f"warning: measuring dbos {version}, expected 3.4.0", file=sys.stderr)
    t0 = time.perf_counter()
    # Anything DBOS might print goes to stderr: stdout carries only the JSON result.
    with contextlib.redirect_stdout(sys.stderr):
        result = run(args.workdir, args.quick, args.database, args.journal)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
