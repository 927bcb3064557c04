"""How fast the dashboard's pages are over a big database.

Fills a database (SQLite, or PostgreSQL with ``--postgres``) with 100,000 runs and 1,000,000
steps through the store's own commit, in large change sets (real rows, real indexes, the spans
the trace reads), plus one run with 1,000 steps. Then serves the dashboard of a server runtime
over it and times, in process (ASGI requests, no network), the runs page ``/``, the runs page
filtered by function and status, and the big run's page ``/runs/{id}``. Prints p50/p95 in ms
and the ratio to the 50 ms goal.

    .venv/bin/python -m bench.dashboard               # SQLite in a temporary directory
    .venv/bin/python -m bench.dashboard --postgres    # a throwaway PostgreSQL database
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import psycopg
from starlette.applications import Starlette
from ulid import ULID

from bench.pg import DEFAULT_ADMIN_URL, temporary_database
from stepwell.core.runs import RunStatus
from stepwell.dashboard import DashboardContext, dashboard_routes
from stepwell.ports.records import (
    ChangeSet,
    NewRun,
    RunRecord,
    RunUpdate,
    SpanKind,
    SpanStatus,
    StepRow,
    StepSpan,
    StoredEvent,
)
from stepwell.protocol.events import Event
from stepwell.server.config import ServerConfig
from stepwell.server.runtime import ServerRuntime
from stepwell.store import open_store

GOAL_MS = 50.0
APP = "bench-shop"
FUNCTIONS = [f"{APP}-fn{n}" for n in range(10)]
STATUSES = [RunStatus.COMPLETED] * 16 + [RunStatus.FAILED] * 2 + [RunStatus.CANCELLED]
STATUSES += [RunStatus.RUNNING]
WEEK_MS = 7 * 86_400_000


def _hash(name: str) -> str:
    return hashlib.sha1(name.encode()).hexdigest()


STEP_NAMES = [f"step-{n}" for n in range(1000)]
STEP_HASHES = [_hash(name) for name in STEP_NAMES]


def _run(
    index: int, created: int, steps: int, function_id: str, status: RunStatus, changes: ChangeSet
) -> str:
    """One run of ``steps`` settled steps (memo row and span each) and its event, created
    Running (steps are stored only for active runs); ``_ending`` moves it to ``status``."""
    run_id = str(ULID.from_timestamp(created / 1000))
    event_id = str(ULID.from_timestamp(created / 1000))
    changes.events.append(
        StoredEvent(event_id, Event(name="shop/order", data={"n": index}, ts=created), created)
    )
    changes.runs.append(
        NewRun(
            RunRecord(
                run_id=run_id,
                app_id=APP,
                function_id=function_id,
                status=RunStatus.RUNNING,
                event_ids=[event_id],
                created_at=created,
                started_at=created + 1,
            )
        )
    )
    for n in range(steps):
        name, step_hash = STEP_NAMES[n], STEP_HASHES[n]
        changes.steps.append(StepRow(run_id, step_hash, {"data": {"step": n}}, f'{{"step":{n}}}'))
        changes.spans.append(
            StepSpan(
                run_id=run_id,
                step_hash=step_hash,
                name=name,
                kind=SpanKind.RUN,
                attempt=0,
                status=SpanStatus.COMPLETED,
                started_at=created + 2 + 5 * n,
                ended_at=created + 6 + 5 * n,
            )
        )
    return run_id


def _ending(run_id: str, index: int, ended_at: int, status: RunStatus, changes: ChangeSet) -> None:
    if status is RunStatus.RUNNING:
        return
    changes.run_updates.append(
        RunUpdate(
            run_id=run_id,
            status=status,
            expect=(RunStatus.RUNNING,),
            output={"n": index} if status is RunStatus.COMPLETED else None,
            error={"name": "Error", "message": "declined"} if status is RunStatus.FAILED else None,
            ended_at=ended_at,
        )
    )


def _batches(
    runs: int, steps_per_run: int, batch: int, now: int
) -> Iterator[tuple[ChangeSet, ChangeSet]]:
    """Change sets of ``batch`` runs: one creating them with their steps, one ending them."""
    changes, endings = ChangeSet(), ChangeSet()
    for index in range(runs):
        created = now - WEEK_MS + index * WEEK_MS // runs
        status = STATUSES[(index // len(FUNCTIONS)) % len(STATUSES)]
        run_id = _run(
            index, created, steps_per_run, FUNCTIONS[index % len(FUNCTIONS)], status, changes
        )
        _ending(run_id, index, created + 5 * steps_per_run + 3, status, endings)
        if len(changes.runs) == batch:
            yield changes, endings
            changes, endings = ChangeSet(), ChangeSet()
    if changes.runs:
        yield changes, endings


async def fill(url: str, runs: int, steps: int) -> str:
    """The database at ``url`` with ``runs`` runs and ``steps`` steps; the big run's id."""
    store = open_store(url, durability="off")
    await store.open()
    started = time.perf_counter()
    try:
        now = int(time.time() * 1000)
        per_run = max(1, steps // runs)
        for done, (changes, endings) in enumerate(_batches(runs, per_run, 1000, now - 60_000), 1):
            await store.commit(changes)
            await store.commit(endings)
            if done % 20 == 0:
                print(f"  {done * 1000:,} runs", flush=True)
        big = ChangeSet()
        big_id = _run(runs, now - 30_000, 1000, FUNCTIONS[0], RunStatus.COMPLETED, big)
        await store.commit(big)
        big_end = ChangeSet()
        _ending(big_id, runs, now - 20_000, RunStatus.COMPLETED, big_end)
        await store.commit(big_end)
    finally:
        await store.close()
    if not url.startswith("sqlite:"):
        # A real database has been analyzed by autovacuum long before it holds 100,000 runs;
        # without statistics the planner scans the steps for the overview's steps/s (~70 ms).
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")
    seconds = time.perf_counter() - started
    print(f"filled {runs:,} runs and {runs * per_run + 1000:,} steps in {seconds:.1f} s")
    return big_id


async def measure(url: str, big_run: str, repetitions: int) -> list[tuple[str, list[float]]]:
    runtime = ServerRuntime(ServerConfig(dev=True, database=url, discovery=False))
    ctx = DashboardContext.serving(runtime)
    app = Starlette(routes=dashboard_routes(ctx))
    await runtime.start()
    pages = [
        ("runs page /", "/"),
        ("runs filtered (function, Failed)", f"/runs?function={FUNCTIONS[3]}&status=Failed"),
        ("run page (1,000 steps)", f"/runs/{big_run}"),
    ]
    results: list[tuple[str, list[float]]] = []
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for label, path in pages:
                for _ in range(3):  # warm caches and the template
                    response = await client.get(path)
                    assert response.status_code == 200, (path, response.status_code)
                times = []
                for _ in range(repetitions):
                    started = time.perf_counter()
                    response = await client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
                results.append((label, times))
    finally:
        await runtime.stop()
    return results


def report(results: list[tuple[str, list[float]]]) -> None:
    print(f"{'page':<36} {'p50 ms':>8} {'p95 ms':>8} {'p50/goal':>9}")
    for label, times in results:
        p50 = statistics.median(times)
        p95 = statistics.quantiles(times, n=20)[18]
        print(f"{label:<36} {p50:8.1f} {p95:8.1f} {p50 / GOAL_MS:8.2f}x")
    print(f"(goal: {GOAL_MS:.0f} ms server time a page at p50; ratio > 1 misses it)")


async def main_async(args: argparse.Namespace, url: str) -> None:
    big_run = await fill(url, args.runs, args.steps)
    report(await measure(url, big_run, args.repetitions))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN_URL, help="PostgreSQL admin URL")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--repetitions", type=int, default=100)
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.postgres:
            url = stack.enter_context(temporary_database(args.admin_url, prefix="dashboard"))
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            url = f"sqlite:///{folder / 'dashboard.db'}"
        print(f"database: {url}")
        asyncio.run(main_async(args, url))


if __name__ == "__main__":
    main()
