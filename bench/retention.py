"""Does pruning hold the write path? Step commit latency with and without a prune beside it.

Embedded engine on SQLite. Each measurement starts from a fresh file seeded with a backlog of
ended runs (20,000 by default, each with its event and 5 steps, ended 30 days ago). Then runs
of ``step.run`` steps execute one after another, and the time between consecutive steps of a
run (one step's commit and the next step's dispatch) is recorded:

- no prune: the backlog just sits there;
- prune running: ``store.prune`` deletes the whole backlog meanwhile, and only the steps taken
  while it ran count.

Prints p50/p90/p99 of each (medians of 3 measurements), their ratio, and what the prune did.

    .venv/bin/python bench/retention.py [--quick] [--backlog N] [--durability full|normal]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from pathlib import Path

import stepwell
from stepwell import Context
from stepwell.core.runs import RunStatus
from stepwell.ports.records import ChangeSet, NewRun, RunRecord, RunUpdate, StepRow, StoredEvent
from stepwell.ports.retention import DEFAULT_PRUNE_BATCH, Pruner, PruneResult
from stepwell.protocol.events import Event
from stepwell.store import open_store

REPEATS = 3
DAY_MS = 86_400_000
STEPS_PER_BACKLOG_RUN = 5
SEED_CHUNK = 500
STEPS_PER_RUN = 100
"""Measured runs are short so replaying the memo stays a small, constant part of a step."""
ACCEPTABLE_P99_RATIO = 3.0
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}


async def seed(database: str, backlog: int, ended_at: int) -> None:
    """``backlog`` ended runs, written through the store as the engine would have."""
    store = open_store(database)
    await store.open()
    try:
        for start in range(0, backlog, SEED_CHUNK):
            ids = [f"backlog{n:08d}" for n in range(start, min(backlog, start + SEED_CHUNK))]
            events = [
                StoredEvent(f"E{i}", Event(name="bench/old", data={"n": i}, ts=ended_at), ended_at)
                for i in ids
            ]
            runs = [
                NewRun(RunRecord(i, "bench", "bench-old", RunStatus.QUEUED, [f"E{i}"], ended_at))
                for i in ids
            ]
            steps = [
                StepRow(i, f"step{s}", {"data": {"payload": "x" * 64, "n": s}})
                for i in ids
                for s in range(STEPS_PER_BACKLOG_RUN)
            ]
            await store.commit(ChangeSet(events=events, runs=runs, steps=steps))
            ends = [
                RunUpdate(i, RunStatus.COMPLETED, (RunStatus.QUEUED,), ended_at=ended_at)
                for i in ids
            ]
            await store.commit(ChangeSet(run_updates=ends, ended_runs=ids))
    finally:
        await store.close()


def build_app(stamps: list[list[float]]) -> stepwell.App:
    app = stepwell.App("bench")

    @app.function("sequential", trigger=stepwell.on_event("bench/sequential"))
    async def sequential(ctx: Context) -> int:
        mine: list[float] = []
        for i in range(STEPS_PER_RUN):

            def stamp(i: int = i) -> int:
                mine.append(time.perf_counter())
                return i

            await ctx.step.run(f"s{i}", stamp)
        stamps.append(mine)
        return STEPS_PER_RUN

    return app


def gaps(stamps: list[list[float]], since: float, until: float) -> list[float]:
    """Milliseconds between consecutive steps of a run, for steps taken in [since, until]."""
    found: list[float] = []
    for run in stamps:
        for earlier, later in itertools.pairwise(run):
            if since <= earlier and later <= until:
                found.append((later - earlier) * 1000)
    return found


async def measure(
    database: str, *, prune: bool, min_steps: int, durability: str, batch_size: int
) -> tuple[list[float], PruneResult | None, float]:
    stamps: list[list[float]] = []
    app = build_app(stamps)
    async with app.embedded(database, durability=durability) as engine:
        store = engine.store
        assert isinstance(store, Pruner)
        # Warm up: the first run pays for imports and the first plans.
        [warm] = await engine.send("bench/sequential", {})
        await engine.wait_for_runs(warm, timeout=120)
        stamps.clear()

        cutoff = int(time.time() * 1000) - 7 * DAY_MS
        started = time.perf_counter()
        finished: list[float] = []

        async def prune_backlog() -> PruneResult:
            try:
                return await store.prune(older_than_ms=cutoff, batch_size=batch_size)
            finally:
                finished.append(time.perf_counter())

        pruning = asyncio.create_task(prune_backlog()) if prune else None
        taken = 0
        # Without a prune: until enough steps; with one: for as long as it runs, so every
        # step measured had the prune beside it.
        while not pruning.done() if pruning is not None else taken < min_steps:
            [event_id] = await engine.send("bench/sequential", {})
            await engine.wait_for_runs(event_id, timeout=300)
            taken += STEPS_PER_RUN
        if pruning is None:
            return gaps(stamps, started, time.perf_counter()), None, 0.0
        result = await pruning
        return gaps(stamps, started, finished[0]), result, finished[0] - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the backlog")
    parser.add_argument("--backlog", type=int, default=None, help="ended runs to prune")
    parser.add_argument("--durability", default="full", choices=["full", "normal"])
    parser.add_argument("--batch-size", type=int, default=DEFAULT_PRUNE_BATCH)
    args = parser.parse_args()
    backlog = args.backlog or (2_000 if args.quick else 20_000)
    min_steps = 500 if args.quick else 2_000

    figures: dict[str, list[float]] = {f"{q}_{tag}": [] for q in QUANTILES for tag in ("no", "yes")}
    prunes: list[tuple[PruneResult, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="stepwell-bench-") as tmp:
        for repeat in range(REPEATS):
            for prune in (False, True):
                database = f"sqlite:///{Path(tmp) / f'r{repeat}-{int(prune)}.db'}"
                asyncio.run(seed(database, backlog, int(time.time() * 1000) - 30 * DAY_MS))
                found, result, seconds = asyncio.run(
                    measure(
                        database,
                        prune=prune,
                        min_steps=min_steps,
                        durability=args.durability,
                        batch_size=args.batch_size,
                    )
                )
                tag = "yes" if prune else "no"
                for q, at in QUANTILES.items():
                    figures[f"{q}_{tag}"].append(percentile(found, at))
                if result is not None:
                    prunes.append((result, seconds, len(found)))
    report(figures, prunes, backlog, args)


def report(
    figures: dict[str, list[float]],
    prunes: list[tuple[PruneResult, float, int]],
    backlog: int,
    args: argparse.Namespace,
) -> None:
    med = {key: statistics.median(values) for key, values in figures.items()}
    print(
        f"Step commit latency, embedded SQLite ({args.durability}), backlog of {backlog:,} "
        f"ended runs x {STEPS_PER_BACKLOG_RUN} steps, prune batch {args.batch_size}"
    )
    print(f"{'figure':<28} {'no prune':>10} {'prune running':>14} {'ratio':>8}")
    for q in QUANTILES:
        without, beside = med[f"{q}_no"], med[f"{q}_yes"]
        label = f"step-to-step {q} (ms)"
        print(f"{label:<28} {without:>10.2f} {beside:>14.2f} {beside / without:>7.2f}x")
    for result, seconds, samples in prunes:
        print(
            f"prune: {result.runs:,} runs, {result.events:,} events, {result.batches} batches "
            f"in {seconds:.1f} s ({result.runs / seconds:,.0f} runs/s); {samples} steps beside it"
        )
    ratio = med["p99_yes"] / med["p99_no"]
    verdict = "holds" if ratio > ACCEPTABLE_P99_RATIO else "does not hold"
    print(
        f"(medians of {REPEATS}; ratio = with / without; the prune {verdict} the write path: "
        f"p99 ratio {ratio:.2f} against a limit of {ACCEPTABLE_P99_RATIO:.1f})"
    )


if __name__ == "__main__":
    main()
