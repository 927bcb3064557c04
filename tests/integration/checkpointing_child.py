"""The program ``test_checkpointing_crash`` starts and SIGKILLs: one run of many fast steps.

``python checkpointing_child.py DB LOG [--send]``: open the embedded engine on DB with
``checkpointing=True``; with ``--send`` send the one ``fast/go`` event (first start only); run
until the run has ended, print ``DONE_MARKER`` and the run's output, and exit 0.

Each ``step.run`` body appends ``pid step_id`` to LOG in one ``write(2)`` (the kernel keeps it
through a SIGKILL), so the test can tell which process ran which step, and how often.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import stepwell
from stepwell import Context

DONE_MARKER = "CHECKPOINTING-CHILD-DONE"
STEPS = 3000


def build_app(log_path: Path) -> stepwell.App:
    app = stepwell.App("fast")
    pid = os.getpid()
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def effect(index: int) -> int:
        os.write(fd, f"{pid} s{index}\n".encode())
        return index

    @app.function("fast-steps", trigger=stepwell.on_event("fast/go"))
    async def fast_steps(ctx: Context) -> int:
        total = 0
        for index in range(STEPS):
            total += await ctx.step.run(f"s{index}", effect, index)
        return total

    return app


async def main(db_path: Path, log_path: Path, send: bool) -> int:
    app = build_app(log_path)
    async with app.embedded(f"sqlite:///{db_path}", checkpointing=True) as engine:
        if send:
            await engine.send("fast/go", {})
        [run] = await engine.list_runs(function_id="fast-fast-steps")
        [run] = await engine.wait_for_runs(run.event_ids[0], timeout=120)
    print(DONE_MARKER, json.dumps({"status": run.status.value, "output": run.output}))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("db", type=Path)
    parser.add_argument("log", type=Path)
    parser.add_argument("--send", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.db, args.log, args.send)))
