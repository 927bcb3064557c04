"""Instructions per unit of work, counted by valgrind's callgrind: a figure the machine's load
does not move, for A/B comparisons of small changes on a shared machine.

Each workload runs in a fresh interpreter under ``valgrind --tool=callgrind`` twice, once doing
nothing (start-up and shutdown only) and once doing ``N`` units; the difference divided by
``N`` is the cost of one unit, in instructions executed by every thread of the process (the
SQLite writer's included). The same count comes back within about 0.5 % run to run (for
``sleep``, 1-2 %: how its runs are batched depends on timing).

* ``intake``: ``engine.validate`` + ``engine.ingest`` of a 100-event array (as ``POST /e``
  hands it over, parsed by ``json_values.loads``), one after another; per event;
* ``sleep``: runs of one step then a one-hour sleep, sent in batches of 500, until all are
  asleep (as ``bench.ingest``'s sleep scenario); per run;
* ``steps``: one run of 500 back-to-back ``step.run`` calls (checkpointing); per step.

Several ``--src`` trees are measured one after another (the first is the reference for the
ratios), so a base checkout and a branch compare in one command:

    .venv/bin/python -m bench.instructions [--only intake,sleep,steps] [--src PATH ...]

Needs ``valgrind`` (on every machine here); a workload takes a few minutes under it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
UNITS = {"intake": (100, 100, "event"), "sleep": (2000, 1, "run"), "steps": (1, 500, "step")}
"""Workload: (units of work sent, pieces per unit, what a piece is)."""


async def _intake(count: int, tmp: str) -> None:
    import orjson

    import stepwell
    from stepwell.core.json_values import loads

    body = orjson.dumps([{"name": "bench/http", "data": {"i": 1}}] * 100)
    async with stepwell.App("x").embedded(f"sqlite:///{tmp}/d.db", metrics=True) as engine:
        for _ in range(count):
            await engine.ingest(engine.validate(loads(body), loaded=True))


async def _sleep(count: int, tmp: str) -> None:
    import stepwell

    app = stepwell.App("ingest")

    @app.function("nap", trigger=stepwell.on_event("bench/nap"))
    async def nap(ctx: stepwell.Context) -> None:
        await ctx.step.run("first", lambda: 1)
        await ctx.step.sleep("nap", "1h")

    path = f"{tmp}/d.db"
    async with app.embedded(f"sqlite:///{path}", max_concurrency=1000) as engine:
        for batch in range(count // 500):
            first = batch * 500
            await engine.send([stepwell.Event("bench/nap", {"i": first + i}) for i in range(500)])
        sql = "SELECT count(*) FROM queue WHERE kind = 'sleep'"
        with sqlite3.connect(path) as conn:
            # Seldom: each look costs instructions, and waiting costs none.
            for _ in range(2_000):  # 1,000 s at most, under valgrind
                if conn.execute(sql).fetchone()[0] >= count:
                    break
                await asyncio.sleep(0.5)
            else:
                raise TimeoutError("the runs did not all go to sleep")


async def _steps(count: int, tmp: str) -> None:
    from bench.apps.stepwell_app import LONG_STEPS, app_def

    async with app_def.embedded(f"sqlite:///{tmp}/d.db") as engine:
        for _ in range(count):
            [event_id] = await engine.send("bench/sw-steps500", {})
            [run] = await engine.wait_for_runs(event_id, timeout=600)
            assert run.output == LONG_STEPS


WORKLOADS = {"intake": _intake, "sleep": _sleep, "steps": _steps}


def child(workload: str, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(WORKLOADS[workload](count, tmp))


def instructions(src: Path, workload: str, count: int) -> int:
    """Instructions of one interpreter doing ``count`` units of ``workload`` with ``src``."""
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), str(ROOT)])}
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}/cg.out",
                sys.executable,
                __file__,
                "--child",
                workload,
                str(count),
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=3600,
            check=False,
        )
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode != 0 or found is None:
            raise RuntimeError(f"{workload} under callgrind failed:\n{done.stderr[-3000:]}")
        return int(found.group(1))


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="intake,sleep,steps")
    parser.add_argument("--src", action="append", type=Path, help="a tree's src folder")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: nothing measured", file=sys.stderr)
        sys.exit(1)
    trees = [path.resolve() for path in args.src or [ROOT / "src"]]
    for workload in args.only.split(","):
        units, pieces, piece = UNITS[workload]
        reference = None
        for src in trees:
            idle = instructions(src, workload, 0)
            busy = instructions(src, workload, units)
            each = (busy - idle) / (units * pieces)
            reference = reference or each
            print(
                f"{workload}: {each:,.0f} instructions per {piece} with {src} "
                f"({each / reference:.3f}x the first)",
                flush=True,
            )


if __name__ == "__main__":
    main()
