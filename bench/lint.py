"""How fast ``stepwell lint`` is: a tree of 1,000 generated modules, each an app with three
durable functions (both SDK styles, helpers, loops, parallel steps, some violations), linted
in several rounds; the median is printed. As a peer measured in the same run: ``ruff check``
over the same tree (no cache), the speed users know from a linter.

    PYTHONPATH=src .venv/bin/python bench/lint.py [--modules 1000] [--rounds 5]

Four figures, each the median wall time of the rounds and the median CPU time (this process
and its children: the linter's worker processes, ruff's threads): the linter called in this
process (parsing and rules, no start-up), with ``jobs=1`` and as it chooses (forked worker
processes above some number of files), the command as a user runs it (a fresh interpreter:
``python -m stepwell.lint``), and ruff's command. The machine's load average is printed with
them: on a shared machine, compare figures of the same run.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from stepwell.lint import Overrides, lint_paths

MODULE = '''\
"""Generated app {n}."""

import asyncio
import logging
import random
from datetime import timedelta

import httpx
import inngest
import stepwell
from stepwell import Context

app = stepwell.App("app-{n}")
client = inngest.Inngest(app_id="app-{n}")
log = logging.getLogger(__name__)


class Placed{n}(stepwell.EventData, name="shop/placed-{n}"):
    order_id: int


def charge(order_id: int, amount: float) -> dict[str, object]:
    rate = lookup_rate(order_id)
    return {{"order_id": order_id, "charged": amount * rate}}


def lookup_rate(order_id: int) -> float:
    return httpx.get(f"https://rates.test/{{order_id}}").json()["rate"]


async def notify(step: stepwell.sdk.step.Step, order_id: int) -> None:
    await step.send_event("notify", {{"name": "shop/notified", "data": {{"id": order_id}}}})


@app.function("process-{n}", trigger=stepwell.on_event(Placed{n}), concurrency=10)
async def process_{n}(ctx: Context) -> dict[str, object]:
    order_id = ctx.event.data["order_id"]
    charged = await ctx.step.run("charge", charge, order_id, 10.0)
    await ctx.step.sleep("cool-off", timedelta(seconds=1))
    paid = await ctx.step.wait_for_event(
        "wait-payment", event=Placed{n}, match="data.order_id", timeout="1h"
    )
    for i in range(3):
        await ctx.step.run(f"item-{{i}}", lambda: i * 2)
    a, b = await asyncio.gather(
        ctx.step.run("receipt", lambda: "r"), ctx.step.run("email", lambda: "e")
    )
    await notify(ctx.step, order_id)
    ctx.logger.info("done %s", order_id)
    return {{"charged": charged, "paid": paid is not None, "a": a, "b": b}}


@app.function("flaky-{n}", trigger=stepwell.on_event("shop/flaky-{n}"))
async def flaky_{n}(ctx: Context) -> float:
    value = random.random()
    print("flaky", value)
    return await ctx.step.run("roll", lambda: value + random.random())


@client.create_function(fn_id="theirs-{n}", trigger=inngest.TriggerEvent(event="shop/t-{n}"))
async def theirs_{n}(ctx: inngest.Context) -> str:
    async def first() -> str:
        return "first"

    one = await ctx.step.run("first", first)
    await ctx.step.sleep("nap", timedelta(seconds=2))
    log.info("theirs %s", one)
    return one
'''


def generate(root: Path, modules: int) -> None:
    for n in range(modules):
        package = root / f"pkg{n // 100:02d}"
        package.mkdir(parents=True, exist_ok=True)
        (package / f"app_{n:04d}.py").write_text(MODULE.format(n=n), encoding="utf-8")


def cpu_time() -> float:
    """CPU seconds of this process and of its children that have ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def median_of(rounds: int, run: object) -> tuple[float, float, list[float]]:
    """Median wall time, median CPU time, and the wall time of each round."""
    assert callable(run)
    times = []
    cpu = []
    for _ in range(rounds):
        started, cpu_started = time.perf_counter(), cpu_time()
        run()
        times.append(time.perf_counter() - started)
        cpu.append(cpu_time() - cpu_started)
    return statistics.median(times), statistics.median(cpu), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="stepwell-lint-bench-"))
    try:
        generate(root, args.modules)
        tree = str(root)
        result = lint_paths([tree], Overrides(isolated=True))
        print(f"{args.modules} modules, {result.files} files, {len(result.findings)} findings")

        def one_process() -> None:
            lint_paths([tree], Overrides(isolated=True), jobs=1)

        def in_process() -> None:
            lint_paths([tree], Overrides(isolated=True))

        def command() -> None:
            subprocess.run(
                [sys.executable, "-m", "stepwell.lint", "--isolated", "--exit-zero", tree],
                check=True,
                capture_output=True,
            )

        ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")

        def ruff_check() -> None:
            subprocess.run(
                [ruff, "check", "--no-cache", "--isolated", "--exit-zero", "--quiet", tree],
                check=True,
                capture_output=True,
            )

        print(f"load average before: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
        for name, run in (
            ("stepwell lint, one process", one_process),
            ("stepwell lint, in process", in_process),
            ("python -m stepwell.lint", command),
            ("ruff check (peer)", ruff_check),
        ):
            median, cpu, times = median_of(args.rounds, run)
            rounds = ", ".join(f"{t:.3f}" for t in times)
            print(f"{name:28s} median {median:.3f} s, CPU {cpu:.3f} s  (rounds: {rounds})")
        print(f"load average after: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
