"""``wait_for_signal(on_conflict=...)`` on both backends: a signal has one waiter. ``"fail"``
(the default, as in Inngest) fails a second wait's step; ``"replace"`` takes the first
waiter's place and that wait ends as a timeout (None)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, cast

import pytest

import stepwell
from stepwell import Context
from stepwell.core.runs import RunStatus
from stepwell.drivers.inprocess import InProcessDriver
from stepwell.engine.engine import Engine
from stepwell.engine.keys import pause_id, pause_timeout_item_id
from stepwell.engine.plan import Lease, Plan
from stepwell.engine.planner import Planner
from stepwell.engine.registry import Registry
from stepwell.ports.records import (
    ChangeSet,
    ItemKind,
    NewRun,
    Pause,
    PauseKind,
    QueueItem,
    RunRecord,
)
from stepwell.ports.store import Store
from stepwell.store import open_store
from tests.waiting import eventually


def _app() -> stepwell.App:
    app = stepwell.App("conflicts")

    @app.function("waiter", trigger=stepwell.on_event("sig/wait"))
    async def waiter(ctx: Context) -> Any:
        mode = ctx.event.data["mode"]
        try:
            got = await ctx.step.wait_for_signal(
                "w", signal=ctx.event.data["signal"], timeout="1h", on_conflict=mode
            )
        except stepwell.StepError as exc:
            return {"error": str(exc)}
        return {"got": got}

    return app


async def _waiting(engine: stepwell.Engine, event_id: str) -> None:
    async def paused() -> bool:
        runs = await engine.list_runs(event_id=event_id)
        running = bool(runs) and runs[0].status is stepwell.RunStatus.RUNNING
        return running and bool(await engine.store.find_pauses("s", kind=PauseKind.SIGNAL))

    await eventually(paused, timeout=10, what="the first waiter's pause")


async def test_a_second_wait_fails_by_default(db_url: str) -> None:
    async with _app().embedded(db_url, poll_interval=0.02) as engine:
        [first] = await engine.send("sig/wait", {"signal": "s", "mode": "fail"})
        await _waiting(engine, first)
        [second] = await engine.send("sig/wait", {"signal": "s", "mode": "fail"})
        [failed] = await engine.wait_for_runs(second, timeout=30)
        assert failed.status is stepwell.RunStatus.COMPLETED, failed.error
        assert "SignalConflictError" in failed.output["error"]
        assert "already waiting for signal 's'" in failed.output["error"]
        # The first waiter still has the signal.
        [waiting] = await engine.list_runs(event_id=first)
        assert await engine.send_signal("s", 1) == waiting.run_id
        [done] = await engine.wait_for_runs(first, timeout=30)
        assert done.output == {"got": 1}


async def test_replace_takes_the_place_of_the_first_waiter(db_url: str) -> None:
    async with _app().embedded(db_url, poll_interval=0.02) as engine:
        [first] = await engine.send("sig/wait", {"signal": "s", "mode": "fail"})
        await _waiting(engine, first)
        [second] = await engine.send("sig/wait", {"signal": "s", "mode": "replace"})
        # The replaced wait ends at once as a timeout, long before its hour is up.
        [replaced] = await engine.wait_for_runs(first, timeout=30)
        assert replaced.status is stepwell.RunStatus.COMPLETED, replaced.error
        assert replaced.output == {"got": None}
        [newer] = await engine.list_runs(event_id=second)
        assert await engine.send_signal("s", {"n": 2}) == newer.run_id
        [done] = await engine.wait_for_runs(second, timeout=30)
        assert done.output == {"got": {"n": 2}}


# -- two engines on one database: the store keeps the signal's one waiter --------------------

ROUNDS = 8


class _Lent:
    """An open store lent to a second engine: its owner opens and closes it."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@asynccontextmanager
async def _two_engines(db_url: str) -> AsyncIterator[tuple[Engine, Engine]]:
    app = _app()
    async with AsyncExitStack() as stack:
        first = await stack.enter_async_context(app.embedded(db_url, poll_interval=0.02))
        if db_url.startswith("sqlite"):
            # A SQLite file has one owner process (a lock beside it), so the second engine
            # shares the first one's store, as two engines in one process would.
            driver = InProcessDriver({fn.slug: fn.execute for fn in app.functions.values()})
            store = cast(Store, _Lent(first.store))
            second = Engine(store=store, registry=first.registry, driver=driver, poll_interval=0.02)
        else:  # its own connections, as another process would have
            second = app.embedded(db_url, poll_interval=0.02)
        await stack.enter_async_context(second)
        yield first, second


async def _race(engines: tuple[Engine, Engine], signal: str, mode: str) -> list[RunRecord]:
    """Both engines start a run that waits for ``signal`` at the same moment; returns the two
    runs once one of them has ended, the winner first."""
    first, second = engines
    sent = await asyncio.gather(
        *(engine.send("sig/wait", {"signal": signal, "mode": mode}) for engine in engines)
    )
    event_ids = [ids[0] for ids in sent]
    runs: list[RunRecord] = []

    async def one_ended() -> bool:
        waiters = await second.store.find_pauses(signal, kind=PauseKind.SIGNAL)
        assert len(waiters) <= 1, f"both runs wait for {signal!r}: {waiters}"
        runs[:] = [r for event_id in event_ids for r in await first.list_runs(event_id=event_id)]
        return len(runs) == 2 and any(r.status.is_terminal for r in runs)

    await eventually(one_ended, timeout=20, what=f"a loser of the race for {signal!r}")
    runs.sort(key=lambda r: r.status.is_terminal)
    winner, loser = runs
    # Exactly one waiter is stored, and it is the winner's; the loser's wait is not.
    waiters = await second.store.find_pauses(signal, kind=PauseKind.SIGNAL)
    assert [p.run_id for p in waiters] == [winner.run_id], (mode, runs)
    assert winner.status is stepwell.RunStatus.RUNNING
    assert loser.status is stepwell.RunStatus.COMPLETED, loser.error
    return runs


async def _signalled(engine: Engine, run_id: str, signal: str, data: Any) -> None:
    assert await engine.send_signal(signal, data) == run_id

    async def done() -> bool:
        run = await engine.store.get_run(run_id)
        return run is not None and run.status.is_terminal

    await eventually(done, timeout=20, what=f"the waiter of {signal!r} after the signal")
    run = await engine.store.get_run(run_id)
    assert run is not None
    assert run.output == {"got": data}, run.error


@pytest.mark.parametrize("mode", ["fail", "replace"])
async def test_two_engines_racing_for_a_signal_leave_one_waiter(db_url: str, mode: str) -> None:
    async with _two_engines(db_url) as engines:
        for n in range(ROUNDS):
            signal = f"race-{n}"
            winner, loser = await _race(engines, signal, mode)
            assert loser.output is not None
            if mode == "fail":
                # As if the loser had seen the waiter: its step fails, naming that run.
                error = loser.output["error"]
                assert "SignalConflictError" in error
                assert f"run {winner.run_id} is already waiting for signal {signal!r}" in error
            else:  # the later run took the place: the replaced wait ended as a timeout
                assert loser.output == {"got": None}
            await _signalled(engines[n % 2], winner.run_id, signal, n)


async def test_a_timed_out_waiter_whose_timer_has_not_fired_gives_way(db_url: str) -> None:
    """The store still holds an expired wait until its timer fires; a new waiter ends it as
    that timer would (null) rather than lose to it over and over."""
    now = 1_700_000_000_000
    store = open_store(db_url)
    await store.open()
    try:
        runs = [RunRecord(r, "a", "a-f", RunStatus.RUNNING, [], now) for r in ("R1", "R2")]
        old = Pause(pause_id(PauseKind.SIGNAL, "R1", "w"), "R1", "w", PauseKind.SIGNAL, "s", now)
        timer = QueueItem(pause_timeout_item_id("R1", "w"), "R1", ItemKind.PAUSE_TIMEOUT, now)
        await store.commit(ChangeSet(runs=[NewRun(r) for r in runs], pauses=[old], items=[timer]))
        planner = Planner(Registry(), store, Lease(None, 1000))
        new = Pause(pause_id(PauseKind.SIGNAL, "R2", "w"), "R2", "w", PauseKind.SIGNAL, "s", now)
        plan = Plan()
        assert await planner.claim_signal(new, "fail", plan, now + 1) is None
        plan.changes.pauses.append(new)
        await store.commit(plan.changes)
        assert [p.run_id for p in await store.find_pauses("s", kind=PauseKind.SIGNAL)] == ["R2"]
        assert await store.load_memo("R1") == {"w": None}
        assert await store.get_item(timer.item_id) is None
    finally:
        await store.close()
