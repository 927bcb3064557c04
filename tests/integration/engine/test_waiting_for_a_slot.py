"""Runs waiting for a concurrency slot (protocol.md §3.4.2): priority decides who goes next,
and ``timeouts.start`` still applies, since such a run has not started.

Found by the server-mode tests with the official SDKs (tests/e2e/test_flow_control_official.py)
and held here in embedded mode, against a real SQLite file.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import stepwell
from stepwell import Context, RunStatus
from stepwell.engine.concurrency import ConcurrencyGate
from stepwell.engine.shared_concurrency import SharedConcurrencyGate
from stepwell.ports.clock import SystemClock
from stepwell.store import open_store
from tests.clock import ManualClock
from tests.integration.engine.conftest import runs_of
from tests.waiting import eventually

START = datetime(2026, 1, 1, tzinfo=UTC)


async def _statuses(engine: stepwell.Engine, function_id: str) -> list[RunStatus]:
    return [run.status for run in await runs_of(engine, function_id)]


async def test_priority_orders_the_runs_waiting_for_the_only_slot(db_url: str) -> None:
    app = stepwell.App("prio")
    order: list[int] = []
    gate = asyncio.Event()

    @app.function(
        "f",
        trigger=stepwell.on_event("prio/go"),
        concurrency=1,
        priority={"run": "event.data.p"},
    )
    async def f(ctx: Context) -> None:
        n = ctx.event.data["n"]

        async def work() -> None:
            order.append(n)
            if n == 0:
                await asyncio.wait_for(gate.wait(), 10)

        await ctx.step.run("work", work)

    async with app.embedded(db_url, poll_interval=0.02) as engine:
        await engine.send("prio/go", {"n": 0, "p": 0})  # holds the only slot
        await eventually(lambda: order == [0], what="the first run holds the slot")
        await engine.send(
            [{"name": "prio/go", "data": {"n": n, "p": p}} for n, p in ((1, 0), (2, 60), (3, 120))]
        )
        await eventually(
            lambda: engine.concurrency.waiting("fn:prio-f:") == 3, what="three runs waiting"
        )
        gate.set()
        await eventually(
            lambda: _all_completed(engine, "prio-f", 4), timeout=20, what="all four done"
        )
    assert order == [0, 3, 2, 1]  # biggest priority first, not arrival order


async def _all_completed(engine: stepwell.Engine, function_id: str, count: int) -> bool:
    statuses = await _statuses(engine, function_id)
    return len(statuses) == count and all(s is RunStatus.COMPLETED for s in statuses)


async def test_a_run_waiting_for_a_slot_is_queued_and_its_start_timeout_cancels_it(
    db_url: str,
) -> None:
    clock = ManualClock(START)
    app = stepwell.App("slot")
    bodies: list[int] = []
    release = asyncio.Event()

    @app.function(
        "f",
        trigger=stepwell.on_event("slot/go"),
        concurrency=1,
        timeouts={"start": "5s"},
    )
    async def f(ctx: Context) -> Any:
        n = ctx.event.data["n"]

        async def work() -> int:
            bodies.append(n)
            if n == 0:
                await asyncio.wait_for(release.wait(), 10)
            return int(n)

        return await ctx.step.run("work", work)

    async with app.embedded(db_url, clock=clock, poll_interval=0.02) as engine:
        await engine.send("slot/go", {"n": 0})
        await eventually(lambda: bodies == [0], what="the first run holds the slot")
        await engine.send("slot/go", {"n": 1})
        await eventually(
            lambda: _statuses_are(engine, [RunStatus.RUNNING, RunStatus.QUEUED]),
            what="the second run listed, still queued behind the first",
        )
        clock.set(START + timedelta(seconds=6))  # past the second run's start timeout
        await eventually(
            lambda: _statuses_are(engine, [RunStatus.RUNNING, RunStatus.CANCELLED]),
            what="the waiting run timed out",
        )
        release.set()
        await eventually(
            lambda: _statuses_are(engine, [RunStatus.COMPLETED, RunStatus.CANCELLED]),
            what="the first run completes",
        )
        runs = await runs_of(engine, "slot-f")
    assert bodies == [0]  # the timed-out run never executed, not even once it could
    assert runs[0].output == 0


async def _statuses_are(engine: stepwell.Engine, expected: list[RunStatus]) -> bool:
    return await _statuses(engine, "slot-f") == expected


async def _release_order(gate: ConcurrencyGate | SharedConcurrencyGate) -> list[int]:
    """Who gets the only slot of a key after its holder, when waiters of ranks 5, 1, 3, 1
    queue in that order."""
    order: list[int] = []
    holding = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.hold([["k", 1]]) as waited:
            assert not waited
            holding.set()
            await release.wait()

    async def waiter(rank: int, tag: int) -> None:
        async with gate.hold([["k", 1]], rank) as waited:
            assert waited
            order.append(tag)

    first = asyncio.create_task(holder())
    await holding.wait()
    waiters = []
    for tag, rank in enumerate((5, 1, 3, 1)):
        waiters.append(asyncio.create_task(waiter(rank, tag)))
        # Queued in this order: each one waits before the next comes.
        await eventually(lambda: gate.waiting("k") == len(waiters), what=f"waiter {tag} queued")
    release.set()
    await asyncio.wait_for(asyncio.gather(first, *waiters), 10)
    return order


async def test_the_gate_lets_the_lowest_rank_in_first_then_arrival_order() -> None:
    assert await _release_order(ConcurrencyGate()) == [1, 3, 2, 0]


async def test_the_shared_gate_orders_its_waiters_by_rank_too(db_url: str) -> None:
    store = open_store(db_url)
    await store.open()
    try:
        gate = SharedConcurrencyGate(store, SystemClock(), lease_ms=30_000)
        # As in one process: rank first, then arrival, even over a waiter that was already
        # asking the database when better-ranked ones came.
        assert await _release_order(gate) == [1, 3, 2, 0]
    finally:
        await store.close()


async def test_stopping_releases_waiting_runs_at_once_and_they_resume_later(db_url: str) -> None:
    app = stepwell.App("stopq")

    @app.function("f", trigger=stepwell.on_event("stopq/go"), concurrency=1)
    async def f(ctx: Context) -> int:
        await ctx.step.run("work", lambda: asyncio.sleep(0.01))
        return int(ctx.event.data["n"])

    engine = app.embedded(db_url, poll_interval=0.05, shutdown_grace=30)
    await engine.start()
    await engine.send([{"name": "stopq/go", "data": {"n": n}} for n in range(200)])
    await eventually(
        lambda: engine.concurrency.waiting("fn:stopq-f:") > 100, what="runs queue for the slot"
    )
    started = time.monotonic()
    await engine.stop()
    # Only the run holding the slot had to reach its step boundary; the waiters ran no code.
    assert time.monotonic() - started < 5
    async with app.embedded(db_url, poll_interval=0.05) as engine:

        async def all_done() -> bool:
            runs = await engine.list_runs(function_id="stopq-f", limit=1000)
            return len(runs) == 200 and all(r.status is RunStatus.COMPLETED for r in runs)

        await eventually(all_done, timeout=60, what="all 200 runs after the restart")
        outputs = sorted(
            r.output for r in await engine.list_runs(function_id="stopq-f", limit=1000)
        )
    assert outputs == list(range(200))
