"""Aggregate steps/s with 1, 2 and 3 Stepwell processes sharing one PostgreSQL database.

    .venv/bin/python -m bench.scale_out [--quick] [ADMIN_URL]

The same total work (runs of 10 ``step.run``) is split across the processes, which start at
the same instant; the figure is all steps over the time from the first start to the last end.
This machine has 2 cores shared by the processes and PostgreSQL itself.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench.pg import DEFAULT_ADMIN_URL, temporary_database


def aggregate(database: str, processes: int, total_runs: int) -> float:
    start_at = time.time() + 3.0  # time for every process to open the store
    share = total_runs // processes
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.scale_worker",
                "--database",
                database,
                "--runs",
                str(share),
                "--start-at",
                str(start_at),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    results = []
    for child in children:
        out, _ = child.communicate(timeout=900)
        assert child.returncode == 0, f"worker failed ({child.returncode})"
        results.append(json.loads(out.strip().splitlines()[-1]))
    steps = sum(int(r["steps"]) for r in results)
    elapsed = max(float(r["finished"]) for r in results) - min(float(r["started"]) for r in results)
    return steps / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("admin_url", nargs="?", default=DEFAULT_ADMIN_URL)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    total_runs = 120 if args.quick else 600
    print(f"{total_runs} runs x 10 steps, split across the processes, one PostgreSQL database")
    for processes in (1, 2, 3):
        with temporary_database(args.admin_url, "scale") as database:
            rate = aggregate(database, processes, total_runs)
        print(f"{processes} process{'es' if processes > 1 else '  '}: {rate:8.0f} steps/s")


if __name__ == "__main__":
    main()
