"""The program ``test_crash_recovery`` starts, SIGKILLs at arbitrary points, and restarts.

``python crash_child.py DB LOG [--send N]``: open the embedded engine on the SQLite file DB; with
``--send`` also send N ``crash/go`` events (the first start only), then run until every run of
``crash-steps`` has ended, print ``DONE_MARKER`` and exit 0. ``--checkpointing`` opens the
engine with ``checkpointing=True`` (each step's write follows it).

Every ``step.run`` body appends one line ``pid run_id step_id`` to LOG and fsyncs it before it
returns, so the test can count how many times each step body ran, and which process ran it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

import stepwell
from stepwell import Context, Event

DONE_MARKER = "CRASH-CHILD-DONE"
EVENT_NAME = "crash/go"
FUNCTION_SLUG = "crash-steps"

BEFORE_SLEEP = ("s1", "s2", "s3", "s4")
SLEEP_ID = "nap"
SLEEP_SECONDS = 0.2
PAIR = ("pair-a", "pair-b")
AFTER_SLEEP = ("s5", "s6", "s7", "s8")
RUN_STEPS = (*BEFORE_SLEEP, *PAIR, *AFTER_SLEEP)
"""Every ``step.run`` of one run, each writing one side-effect line per execution."""

STEP_BODY_SECONDS = 0.005
"""How long a body goes on after its side effect, so that kills land inside step bodies too."""

RUN_DEADLINE_SECONDS = 60.0


def step_value(index: int, step_id: str) -> int:
    return index * 100 + RUN_STEPS.index(step_id)


def expected_output(index: int) -> dict[str, int]:
    """What the run started by event ``{"i": index}`` returns."""
    return {"i": index, "total": sum(step_value(index, s) for s in RUN_STEPS)}


def build_app(log_path: Path) -> stepwell.App:
    app = stepwell.App("crash")
    pid = os.getpid()

    async def effect(run_id: str, step_id: str, value: int) -> int:
        # One write(2) of a whole line with O_APPEND: lines from successive processes never
        # interleave, and a line is either entirely in the file or not at all.
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{pid} {run_id} {step_id}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        await asyncio.sleep(STEP_BODY_SECONDS)
        return value

    @app.function("steps", trigger=stepwell.on_event(EVENT_NAME), retries=3)
    async def steps(ctx: Context) -> dict[str, int]:
        index = int(ctx.event.data["i"])
        total = 0

        async def run(step_id: str) -> int:
            result: int = await ctx.step.run(
                step_id, effect, ctx.run_id, step_id, step_value(index, step_id)
            )
            return result

        for step_id in BEFORE_SLEEP:
            total += await run(step_id)
        await ctx.step.sleep(SLEEP_ID, SLEEP_SECONDS)
        total += sum(await asyncio.gather(*(run(step_id) for step_id in PAIR)))
        for step_id in AFTER_SLEEP:
            total += await run(step_id)
        return {"i": index, "total": total}

    return app


async def main(db_path: Path, log_path: Path, send: int, checkpointing: bool = False) -> int:
    app = build_app(log_path)
    async with app.embedded(
        f"sqlite:///{db_path}", retry_interval=0.05, checkpointing=checkpointing
    ) as engine:
        if send:
            batch = [Event(name=EVENT_NAME, data={"i": i}) for i in range(send)]
            await engine.send(batch)  # one commit: all the events or none
        loop = asyncio.get_running_loop()
        deadline = loop.time() + RUN_DEADLINE_SECONDS
        while True:
            runs = await engine.list_runs(function_id=FUNCTION_SLUG, limit=10_000)
            pending = [run for run in runs if not run.status.is_terminal]
            if runs and not pending:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                print(f"runs still pending after {RUN_DEADLINE_SECONDS}s: {pending}", flush=True)
                return 3
            if pending:
                await engine.wait_for_runs(pending[0].event_ids[0], timeout=remaining)
            else:  # no run at all: nothing was ever sent; the test will notice
                print("no runs in the database", flush=True)
                return 4
    summary = {run.run_id: run.status.value for run in runs}
    print(DONE_MARKER, json.dumps(summary), flush=True)
    return 0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("db", type=Path)
    parser.add_argument("log", type=Path)
    parser.add_argument("--send", type=int, default=0, metavar="N")
    parser.add_argument("--checkpointing", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args(sys.argv[1:])
    sys.exit(asyncio.run(main(args.db, args.log, args.send, args.checkpointing)))
