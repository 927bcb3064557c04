"""Retention: pruning ended runs and unneeded events, on every backend (``db_url``).

Store tests speak the ports only (``Store`` to set up and look, ``Pruner`` to prune); the
engine tests run real functions on a clock the test moves, so "old" needs no waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest

import stepwell
from stepwell import Context, RunStatus
from stepwell.engine.retention import RetentionTask
from stepwell.ports.records import (
    RUN_OWNED_STATES,
    ChangeSet,
    ItemKind,
    NewRun,
    Pause,
    PauseKind,
    QueueItem,
    RunRecord,
    RunUpdate,
    StatePut,
    StepRow,
    StoredEvent,
)
from stepwell.ports.retention import Pruner
from stepwell.ports.store import Store
from stepwell.protocol.events import Event
from stepwell.store import open_store
from tests.clock import ManualClock
from tests.waiting import eventually

DAY = 86_400_000
NOW = 1_700_000_000_000
CUTOFF = NOW - 7 * DAY
OLD = CUTOFF - 30 * DAY


class PruningStore(Store, Pruner, Protocol):
    """What the tests need of a store: both roles."""


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[PruningStore]:
    opened = open_store(db_url)
    assert isinstance(opened, Pruner), "every store adapter implements the Pruner role"
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def _event(event_id: str, at: int, name: str = "t/go") -> StoredEvent:
    return StoredEvent(event_id, Event(name=name, data={"id": event_id}, ts=at), at)


def _run(
    run_id: str,
    event_ids: list[str],
    at: int = OLD,
    key: str | None = None,
    expires: int | None = None,
) -> NewRun:
    record = RunRecord(run_id, "app", "app-f", RunStatus.QUEUED, event_ids, created_at=at)
    return NewRun(record, idempotency_key=key, idempotency_expires_at=expires or at + DAY)


def _item(run_id: str, kind: ItemKind = ItemKind.EXECUTE, due: int = OLD) -> QueueItem:
    return QueueItem(item_id=f"{run_id}:{kind.value}", run_id=run_id, kind=kind, due_at=due)


def _pause(run_id: str, trigger: StoredEvent) -> Pause:
    return Pause(
        pause_id=f"{run_id}:pause",
        run_id=run_id,
        step_hash="wait",
        kind=PauseKind.EVENT,
        event_name="t/reply",
        expires_at=NOW + 30 * DAY,
        trigger_event=trigger.to_wire(),
    )


def _end(run_id: str, status: RunStatus, at: int) -> RunUpdate:
    return RunUpdate(
        run_id, status, (RunStatus.QUEUED, RunStatus.RUNNING), started_at=at, ended_at=at
    )


def _running(run_id: str) -> RunUpdate:
    return RunUpdate(run_id, RunStatus.RUNNING, (RunStatus.QUEUED,), started_at=OLD)


async def _event_ids(store: Store) -> set[str]:
    return {e.internal_id for e in await store.list_events(limit=1000)}


async def _run_ids(store: Store) -> set[str]:
    return {r.run_id for r in await store.list_runs(limit=1000)}


# -- the store ---------------------------------------------------------------------------------


async def test_ended_runs_older_than_the_cutoff_go_with_everything_keyed_by_them(
    store: PruningStore,
) -> None:
    events = [_event(f"E{n}", OLD) for n in range(3)]
    await store.commit(
        ChangeSet(
            events=events,
            runs=[_run("R0", ["E0"], key="k0"), _run("R1", ["E1"], key="k1")],
            items=[_item("R0"), _item("R0", ItemKind.SLEEP), _item("R1")],
            pauses=[_pause("R0", events[0])],
        )
    )
    # R2's key is held past NOW (the others expired long ago).
    held = _run("R2", ["E2"], at=CUTOFF - DAY, key="held", expires=NOW + DAY)
    await store.commit(ChangeSet(runs=[held]))
    await store.commit(
        ChangeSet(
            run_updates=[_running("R0"), _running("R1")],
            steps=[StepRow("R0", "s1", {"data": 1}), StepRow("R1", "s1", {"data": 2})],
        )
    )
    # Ended without ``ended_runs``: the items and the pause stay, as if left behind.
    await store.commit(
        ChangeSet(
            run_updates=[
                _end("R0", RunStatus.COMPLETED, OLD + 1),
                _end("R1", RunStatus.FAILED, OLD + 2),
                _end("R2", RunStatus.CANCELLED, CUTOFF - 1),
            ]
        )
    )

    result = await store.prune(older_than_ms=CUTOFF)

    assert (result.runs, result.events, result.idempotency_keys) == (3, 3, 2)  # k0, k1
    for run_id in ("R0", "R1", "R2"):
        assert await store.get_run(run_id) is None
        assert await store.load_memo(run_id) == {}
    assert await store.list_runs() == []
    assert await store.list_runs(event_id="E0") == []
    assert await store.list_runs(function_id="app-f") == []
    assert await store.get_events(["E0", "E1", "E2"]) == []
    assert await store.get_item("R0:execute") is None
    assert await store.get_item("R0:sleep") is None
    assert await store.get_item("R1:execute") is None
    assert await store.find_pauses("t/reply") == []
    # A key still held outlives its run: a repeat is still skipped.
    repeat = await store.commit(ChangeSet(runs=[_run("R3", [], at=NOW, key="held")]))
    assert repeat.skipped_runs == {"R3"}


async def test_a_pruned_runs_own_flow_state_goes_with_it(store: PruningStore) -> None:
    """Its metadata and its deferred runs (``RUN_OWNED_STATES``); a live run's and a
    function's flow state stay."""
    await store.commit(ChangeSet(runs=[_run("R0", []), _run("R1", [])]))
    owned = [f"{prefix}{run}" for prefix in RUN_OWNED_STATES for run in ("R0", "R1")]
    shared = "throttle:app-f:0:abc"
    puts = [StatePut(key, {"k": key}, None) for key in [*owned, shared]]
    await store.commit(ChangeSet(run_updates=[_running("R0"), _running("R1")], states=puts))
    await store.commit(ChangeSet(run_updates=[_end("R0", RunStatus.COMPLETED, OLD + 1)]))

    assert (await store.prune(older_than_ms=CUTOFF)).runs == 1

    left = await store.get_states([*owned, shared])
    assert sorted(left) == sorted([f"{prefix}R1" for prefix in RUN_OWNED_STATES] + [shared])


async def test_live_runs_and_their_events_are_untouched_however_old(store: PruningStore) -> None:
    events = [_event(f"E{n}", OLD) for n in range(4)]
    await store.commit(
        ChangeSet(
            events=events,
            runs=[_run(f"R{n}", [f"E{n}"]) for n in range(4)],
            items=[
                _item("R0"),  # queued
                _item("R1"),  # running
                _item("R2", ItemKind.SLEEP, due=NOW + DAY),  # sleeping
                _item("R3", ItemKind.PAUSE_TIMEOUT, due=NOW + DAY),  # waiting for an event
            ],
            pauses=[_pause("R3", events[3])],
        )
    )
    await store.commit(
        ChangeSet(
            run_updates=[_running(f"R{n}") for n in (1, 2, 3)],
            steps=[StepRow(f"R{n}", "s1", {"data": n}) for n in (1, 2, 3)],
        )
    )

    result = await store.prune(older_than_ms=NOW)  # everything was created long before

    assert (result.runs, result.events) == (0, 0)
    assert await _run_ids(store) == {"R0", "R1", "R2", "R3"}
    assert await _event_ids(store) == {"E0", "E1", "E2", "E3"}
    for n in (1, 2, 3):
        assert await store.load_memo(f"R{n}") == {"s1": {"data": n}}
    assert await store.get_item("R0:execute") is not None
    assert await store.get_item("R2:sleep") is not None
    assert await store.get_item("R3:pause_timeout") is not None
    [pause] = await store.find_pauses("t/reply")
    assert pause.run_id == "R3"


async def test_an_old_event_still_needed_is_kept(store: PruningStore) -> None:
    shared, waited, recent, debounced, batched, orphan = (
        _event(name, OLD)
        for name in ("Eshared", "Ewaited", "Erecent", "Edebounced", "Ebatched", "Eorphan")
    )
    await store.commit(
        ChangeSet(
            events=[shared, waited, recent, debounced, batched, orphan],
            runs=[
                _run("Rlive", ["Eshared"]),
                _run("Rended", ["Eshared"]),  # ended long ago: goes, the event stays
                _run("Rwaiting", ["Ewaited"]),
                _run("Rrecent", ["Erecent"]),  # ended after the cutoff: it and its event stay
            ],
            items=[
                _item("Rlive"),
                QueueItem(
                    item_id="debounce:app-d:k",
                    run_id="debounce:app-d",
                    kind=ItemKind.DEBOUNCE,
                    due_at=NOW + DAY,
                    payload={"function_id": "app-d", "event_ids": ["Edebounced"]},
                ),
                QueueItem(
                    item_id="batch:app-b:k",
                    run_id="batch:app-b",
                    kind=ItemKind.BATCH,
                    due_at=NOW + DAY,
                    payload={"function_id": "app-b", "event_ids": ["Ebatched"]},
                ),
            ],
            pauses=[_pause("Rwaiting", waited)],
        )
    )
    await store.commit(
        ChangeSet(
            run_updates=[
                _end("Rended", RunStatus.COMPLETED, OLD),
                _running("Rwaiting"),
                _end("Rrecent", RunStatus.COMPLETED, CUTOFF + 1),
            ]
        )
    )

    result = await store.prune(older_than_ms=CUTOFF)

    assert (result.runs, result.events) == (1, 1)
    assert await _run_ids(store) == {"Rlive", "Rwaiting", "Rrecent"}
    assert await _event_ids(store) == {"Eshared", "Ewaited", "Erecent", "Edebounced", "Ebatched"}
    assert [r.run_id for r in await store.list_runs(event_id="Eshared")] == ["Rlive"]
    assert await store.get_item("debounce:app-d:k") is not None
    assert await store.get_item("batch:app-b:k") is not None

    # Once the recent run is old too, it goes, and its event with it.
    later = await store.prune(older_than_ms=CUTOFF + 2)
    assert (later.runs, later.events) == (1, 1)
    assert await _event_ids(store) == {"Eshared", "Ewaited", "Edebounced", "Ebatched"}


async def test_what_is_newer_than_the_cutoff_is_kept(store: PruningStore) -> None:
    await store.commit(
        ChangeSet(
            events=[_event("Eedge", CUTOFF), _event("Ebefore", CUTOFF - 1), _event("En", NOW)],
            runs=[_run("Redge", [], at=CUTOFF - DAY), _run("Rbefore", [], at=CUTOFF - DAY)],
        )
    )
    await store.commit(
        ChangeSet(
            run_updates=[
                _end("Redge", RunStatus.COMPLETED, CUTOFF),
                _end("Rbefore", RunStatus.FAILED, CUTOFF - 1),
            ]
        )
    )

    result = await store.prune(older_than_ms=CUTOFF)

    assert (result.runs, result.events) == (1, 1)  # strictly older than the cutoff only
    assert await _run_ids(store) == {"Redge"}
    assert await _event_ids(store) == {"Eedge", "En"}


async def test_batches_delete_everything_over_several_transactions(store: PruningStore) -> None:
    ended = [f"R{n:02}" for n in range(23)]
    # Old events a live run holds, interleaved with the doomed ones: batches that find only
    # events to keep must still move on to the next.
    held = [f"H{n:02}" for n in range(9)]
    events = [_event(f"E{n:02}", OLD + 2 * n) for n in range(23)]
    events += [_event(h, OLD + 2 * n + 1) for n, h in enumerate(held)]
    await store.commit(
        ChangeSet(
            events=events,
            runs=[_run(r, [f"E{n:02}"]) for n, r in enumerate(ended)] + [_run("Rlive", held)],
            items=[_item("Rlive")],
        )
    )
    await store.commit(ChangeSet(run_updates=[_running(r) for r in ended]))
    await store.commit(
        ChangeSet(
            steps=[StepRow(r, f"s{i}", {"data": i}) for r in ended for i in range(2)],
        )
    )
    await store.commit(ChangeSet(run_updates=[_end(r, RunStatus.COMPLETED, OLD) for r in ended]))

    reported: list[tuple[int, int, int]] = []  # what a progress bar is shown, batch by batch
    result = await store.prune(
        older_than_ms=CUTOFF,
        batch_size=4,
        on_batch=lambda so_far: reported.append((so_far.batches, so_far.runs, so_far.events)),
    )

    assert (result.runs, result.events) == (23, 23)
    # ceil(23/4) run batches and ceil(32/4)+1 event batches at the least, one for the keys.
    assert result.batches >= 6 + 9 + 1
    # Every batch reported once, in order, with totals that only grow, the last the result.
    assert [batches for batches, _, _ in reported] == list(range(1, result.batches + 1))
    assert reported == sorted(reported)
    assert reported[-1] == (result.batches, 23, 23)
    assert await _run_ids(store) == {"Rlive"}
    assert await _event_ids(store) == set(held)
    for run_id in ended:
        assert await store.load_memo(run_id) == {}
    again = await store.prune(older_than_ms=CUTOFF, batch_size=4)
    assert (again.runs, again.events) == (0, 0)


async def test_sqlite_batches_that_stop_at_their_time_budget_carry_on(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stepwell.store.sqlite import prune as sqlite_prune

    # No time at all: every batch stops after its first chunk, far short of batch_size.
    monkeypatch.setattr(sqlite_prune, "BUDGET_S", 0.0)
    monkeypatch.setattr(sqlite_prune, "RUN_CHUNK", 2)
    monkeypatch.setattr(sqlite_prune, "EVENT_CHUNK", 3)
    store = open_store(sqlite_url)
    assert isinstance(store, Pruner)
    await store.open()
    try:
        ended = [f"R{n:02}" for n in range(9)]
        events = [_event(f"E{n:02}", OLD) for n in range(9)]
        await store.commit(
            ChangeSet(events=events, runs=[_run(r, [f"E{n:02}"]) for n, r in enumerate(ended)])
        )
        await store.commit(
            ChangeSet(run_updates=[_end(r, RunStatus.COMPLETED, OLD) for r in ended])
        )
        result = await store.prune(older_than_ms=CUTOFF, batch_size=500)
        assert (result.runs, result.events) == (9, 9)
        assert result.batches >= 5 + 3 + 1
        assert await _run_ids(store) == set()
        assert await _event_ids(store) == set()
    finally:
        await store.close()


async def test_processes_sharing_postgres_prune_at_once_without_overlap(pg_url: str) -> None:
    stores = [open_store(pg_url), open_store(pg_url)]
    for opened in stores:
        await opened.open()
    try:
        first = stores[0]
        ended = [f"R{n:03}" for n in range(60)]
        events = [_event(f"E{n:03}", OLD) for n in range(60)]
        await first.commit(
            ChangeSet(events=events, runs=[_run(r, [f"E{n:03}"]) for n, r in enumerate(ended)])
        )
        await first.commit(
            ChangeSet(run_updates=[_end(r, RunStatus.COMPLETED, OLD) for r in ended])
        )
        pruners = [s for s in stores if isinstance(s, Pruner)]
        results = await asyncio.gather(
            *(p.prune(older_than_ms=CUTOFF, batch_size=5) for p in pruners)
        )
        assert sum(r.runs for r in results) == 60
        assert sum(r.events for r in results) == 60
        assert await _run_ids(first) == set()
        assert await _event_ids(first) == set()
    finally:
        for opened in stores:
            await opened.close()


async def test_a_bad_batch_size_is_refused(store: PruningStore) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        await store.prune(older_than_ms=CUTOFF, batch_size=0)


async def test_the_background_task_prunes_on_its_own(store: PruningStore) -> None:
    await store.commit(ChangeSet(events=[_event("E0", OLD)], runs=[_run("R0", ["E0"])]))
    await store.commit(ChangeSet(run_updates=[_end("R0", RunStatus.COMPLETED, OLD)]))
    clock = ManualClock(datetime.fromtimestamp(NOW / 1000, UTC))
    task = RetentionTask(store, clock, window_ms=7 * DAY, first_delay_s=0, interval_s=0.01)
    task.start()
    try:

        async def two_passes() -> bool:
            return task.passes >= 2

        await eventually(two_passes, timeout=10, what="two retention passes")
    finally:
        await task.stop()
    assert await store.get_run("R0") is None
    assert await store.get_events(["E0"]) == []


# -- the engine --------------------------------------------------------------------------------

START = datetime(2026, 1, 1, tzinfo=UTC)


def _app() -> stepwell.App:
    app = stepwell.App("ret")

    @app.function("done", trigger=stepwell.on_event("ret/go"))
    async def done(ctx: Context) -> int:
        return int(await ctx.step.run("one", lambda: ctx.event.data["n"]))

    @app.function("napper", trigger=stepwell.on_event("ret/nap"))
    async def napper(ctx: Context) -> str:
        await ctx.step.sleep("nap", "30d")
        return "rested"

    @app.function("waiter", trigger=stepwell.on_event("ret/wait"))
    async def waiter(ctx: Context) -> str:
        reply = await ctx.step.wait_for_event("reply", event="ret/reply", timeout="30d")
        return "answered" if reply is not None else "timed out"

    return app


async def test_the_engine_prunes_and_keeps_working(db_url: str) -> None:
    clock = ManualClock(START)
    app = _app()
    async with app.embedded(db_url, clock=clock, poll_interval=0.02, retention="1d") as engine:
        assert engine.retention is not None
        assert engine.retention.window_ms == DAY
        done_ids = [await engine.send("ret/go", {"n": n}) for n in range(3)]
        for [event_id] in done_ids:
            [run] = await engine.wait_for_runs(event_id, timeout=10)
            assert run.status is RunStatus.COMPLETED
        [nap_event] = await engine.send("ret/nap", {})
        [wait_event] = await engine.send("ret/wait", {})

        async def suspended() -> bool:
            sleeping = await engine.store.items_of_kind(ItemKind.SLEEP)
            waiting = await engine.store.find_pauses("ret/reply")
            return bool(sleeping) and bool(waiting)

        await eventually(suspended, timeout=10, what="one run sleeping, one waiting")

        clock.set(START + timedelta(days=2))
        result = await engine.retention.run_once()

        assert result.runs == 3
        assert await engine.list_runs(function_id="ret-done") == []
        assert await engine.store.get_events([e for [e] in done_ids]) == []
        [napping] = await engine.list_runs(event_id=nap_event)
        [waiting] = await engine.list_runs(event_id=wait_event)
        assert napping.status is RunStatus.RUNNING
        assert waiting.status is RunStatus.RUNNING
        assert len(await engine.store.get_events([nap_event, wait_event])) == 2

        # New work runs, and the waiting run still hears its event.
        [again] = await engine.send("ret/go", {"n": 7})
        [fresh] = await engine.wait_for_runs(again, timeout=10)
        assert (fresh.status, fresh.output) == (RunStatus.COMPLETED, 7)
        await engine.send("ret/reply", {})
        [answered] = await engine.wait_for_runs(wait_event, timeout=10)
        assert answered.output == "answered"
        [still] = await engine.list_runs(event_id=nap_event)
        assert still.status is RunStatus.RUNNING


async def test_without_a_window_the_engine_prunes_nothing(db_url: str) -> None:
    async with _app().embedded(db_url) as engine:
        assert engine.retention is None
