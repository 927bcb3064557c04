"""Start-up: how long ``import stepwell`` takes, beside the official Inngest SDK and DBOS.

Each import runs in a fresh interpreter, timed from inside it, with bytecode caches (as after
``pip install``); rounds interleaved so that a busy moment hits every contender alike.
Prints the median per contender and our ratio to each peer; also the floor, ``import asyncio``
(which every async program pays), and what an embedded app imports before its first step.

    .venv/bin/python bench/import_time.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

CONTENDERS = {
    "stepwell": "import stepwell",
    "stepwell app": "import stepwell; stepwell.App('a').embedded('sqlite:///:memory:')",
    "inngest": "import inngest",
    "dbos": "import dbos",
    "asyncio (floor)": "import asyncio",
}


def import_ms(statement: str) -> float:
    """Wall time of ``statement`` in a new interpreter, from inside it (start-up excluded)."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    # With bytecode caches, as an installed package has them (pip compiles at install); some
    # shells set PYTHONDONTWRITEBYTECODE, which would make every run compile every module.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    return float(done.stdout.strip().splitlines()[-1]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    samples: dict[str, list[float]] = {name: [] for name in CONTENDERS}
    for _name, statement in CONTENDERS.items():
        import_ms(statement)  # warm the bytecode caches and the page cache once
    for _ in range(args.rounds):
        for name, statement in CONTENDERS.items():
            samples[name].append(import_ms(statement))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name, median in medians.items():
        print(f"{name:>16}: {median:7.1f} ms  (min {min(samples[name]):.1f})")
    ours = medians["stepwell"]
    for peer in ("inngest", "dbos"):
        print(f"stepwell / {peer}: {ours / medians[peer]:.2f}x (lower is faster)")


if __name__ == "__main__":
    main()
