"""The Store port's contract: every adapter must pass this same suite.

Each test speaks only the port (``stepwell.ports``), against a real database (the ``store``
fixture of ``conftest.py``). The read queries have their own files: ``test_run_queries.py``,
``test_store_reads.py``.
"""

from __future__ import annotations

import pytest

from stepwell.core.runs import RunStatus
from stepwell.ports.records import (
    ChangeSet,
    ItemDone,
    ItemKind,
    ItemPut,
    NewRun,
    Pause,
    PauseKind,
    QueueItem,
    RunRecord,
    RunUpdate,
    StepRow,
    StoredEvent,
)
from stepwell.ports.store import Store, StoreConflict
from stepwell.protocol.events import Event

NOW = 1_700_000_000_000


def _run(run_id: str, status: RunStatus = RunStatus.QUEUED) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        app_id="app",
        function_id="app-f",
        status=status,
        event_ids=["E1"],
        created_at=NOW,
    )


def _item(run_id: str, *, due: int = NOW, kind: ItemKind = ItemKind.EXECUTE) -> QueueItem:
    return QueueItem(item_id=f"{run_id}:exec", run_id=run_id, kind=kind, due_at=due)


async def test_a_change_set_is_applied_whole(store: Store) -> None:
    event = StoredEvent("E1", Event(name="a/b", data={"x": 1}, id="u1", ts=NOW), NOW)
    await store.commit(ChangeSet(events=[event], runs=[NewRun(_run("R1"))], items=[_item("R1")]))
    [got] = await store.get_events(["E1"])
    assert got.to_wire() == {
        "name": "a/b",
        "data": {"x": 1},
        "id": "u1",
        "ts": NOW,
        "user": {},
    }
    run = await store.get_run("R1")
    assert run is not None
    assert run.status is RunStatus.QUEUED
    assert [r.run_id for r in await store.list_runs(event_id="E1")] == ["R1"]
    assert (await store.get_item("R1:exec")) is not None


async def test_a_conflict_rolls_back_everything_in_the_change_set(store: Store) -> None:
    await store.commit(ChangeSet(runs=[NewRun(_run("R1"))]))
    with pytest.raises(StoreConflict):
        await store.commit(
            ChangeSet(
                events=[StoredEvent("E9", Event(name="x"), NOW)],
                pauses_consumed=["no-such-pause"],
            )
        )
    assert await store.get_events(["E9"]) == []


async def test_held_idempotency_key_skips_the_run_and_its_items(store: Store) -> None:
    first = NewRun(_run("R1"), idempotency_key="k", idempotency_expires_at=NOW + 1000)
    second = NewRun(_run("R2"), idempotency_key="k", idempotency_expires_at=NOW + 1000)
    assert (await store.commit(ChangeSet(runs=[first], items=[_item("R1")]))).skipped_runs == set()
    result = await store.commit(ChangeSet(runs=[second], items=[_item("R2")]))
    assert result.skipped_runs == {"R2"}
    assert await store.get_run("R2") is None
    assert await store.get_item("R2:exec") is None
    # Once expired, the key may be taken again.
    later = _run("R3")
    later.created_at = NOW + 2000
    third = NewRun(later, idempotency_key="k", idempotency_expires_at=NOW + 5000)
    assert (await store.commit(ChangeSet(runs=[third]))).skipped_runs == set()


async def test_steps_are_stored_once_and_only_for_active_runs(store: Store) -> None:
    await store.commit(ChangeSet(runs=[NewRun(_run("R1"))]))
    await store.commit(ChangeSet(steps=[StepRow("R1", "h1", {"data": 1})]))
    with pytest.raises(StoreConflict):
        await store.commit(ChangeSet(steps=[StepRow("R1", "h1", {"data": 2})]))
    await store.commit(ChangeSet(steps=[StepRow("R1", "h2", None)]))
    assert await store.load_memo("R1") == {"h1": {"data": 1}, "h2": None}
    await store.commit(
        ChangeSet(
            run_updates=[RunUpdate("R1", RunStatus.CANCELLED, (RunStatus.QUEUED,), ended_at=NOW)],
            ended_runs=["R1"],
        )
    )
    with pytest.raises(StoreConflict):
        await store.commit(ChangeSet(steps=[StepRow("R1", "h3", {"data": 3})]))


async def test_run_updates_apply_only_from_expected_statuses(store: Store) -> None:
    await store.commit(ChangeSet(runs=[NewRun(_run("R1"))]))
    done = RunUpdate(
        "R1",
        RunStatus.COMPLETED,
        (RunStatus.QUEUED, RunStatus.RUNNING),
        output={"ok": True},
        ended_at=NOW,
    )
    await store.commit(ChangeSet(run_updates=[done]))
    with pytest.raises(StoreConflict):
        await store.commit(ChangeSet(run_updates=[done]))
    run = await store.get_run("R1")
    assert run is not None
    assert (run.status, run.output, run.ended_at) == (RunStatus.COMPLETED, {"ok": True}, NOW)


async def test_pauses_are_found_by_event_or_correlation_and_consumed_once(store: Store) -> None:
    await store.commit(ChangeSet(runs=[NewRun(_run("R1"))]))
    wait = Pause("P1", "R1", "h1", PauseKind.EVENT, "a/paid", NOW + 10, expression="true")
    invoke = Pause(
        "P2",
        "R1",
        "h2",
        PauseKind.INVOKE,
        "inngest/function.finished",
        NOW + 10,
        correlation_id="R1.h2",
    )
    await store.commit(ChangeSet(pauses=[wait, invoke]))
    assert [p.pause_id for p in await store.find_pauses("a/paid")] == ["P1"]
    assert [p.pause_id for p in await store.find_pauses("x", correlation_id="R1.h2")] == ["P2"]
    await store.commit(ChangeSet(pauses_consumed=["P1"]))
    with pytest.raises(StoreConflict):
        await store.commit(ChangeSet(pauses_consumed=["P1"]))
    assert await store.find_pauses("a/paid") == []


def _signal_wait(run_id: str, signal: str = "s", step: str = "w") -> Pause:
    return Pause(f"signal:{run_id}:{step}", run_id, step, PauseKind.SIGNAL, signal, NOW + 10)


async def test_a_signal_has_one_stored_waiter(store: Store) -> None:
    await store.commit(ChangeSet(runs=[NewRun(_run("R1")), NewRun(_run("R2"))]))
    await store.commit(ChangeSet(pauses=[_signal_wait("R1")]))
    # A second waiter is a lost race, and nothing of its change set is written.
    with pytest.raises(StoreConflict):
        await store.commit(
            ChangeSet(
                pauses=[_signal_wait("R2")],
                steps=[StepRow("R2", "before", 1)],
                items=[_item("R2", kind=ItemKind.PAUSE_TIMEOUT)],
            )
        )
    assert await store.load_memo("R2") == {}
    assert await store.get_item("R2:exec") is None
    # Also within one change set.
    both = [_signal_wait("R2", "t"), _signal_wait("R1", "t", "w2")]
    with pytest.raises(StoreConflict):
        await store.commit(ChangeSet(pauses=both))
    # The same wait stored again, other signals and other kinds of pause are no conflict.
    other_kind = Pause("event:R2:w", "R2", "e", PauseKind.EVENT, "s", NOW + 10)
    await store.commit(ChangeSet(pauses=[_signal_wait("R1"), _signal_wait("R2", "t"), other_kind]))
    # Taking the place of the waiter (replace) consumes its pause in the same change set.
    replacing = _signal_wait("R2", step="w3")
    await store.commit(ChangeSet(pauses_consumed=["signal:R1:w"], pauses=[replacing]))
    waiters = await store.find_pauses("s", kind=PauseKind.SIGNAL)
    assert [p.run_id for p in waiters] == ["R2"]
    assert [p.pause_id for p in await store.find_pauses("s")] == ["event:R2:w"]


async def test_ending_a_run_removes_its_items_and_pauses(store: Store) -> None:
    await store.commit(ChangeSet(runs=[NewRun(_run("R1"))], items=[_item("R1")]))
    await store.commit(ChangeSet(pauses=[Pause("P1", "R1", "h", PauseKind.EVENT, "a/b", NOW + 10)]))
    await store.commit(ChangeSet(ended_runs=["R1"]))
    assert await store.get_item("R1:exec") is None
    assert await store.find_pauses("a/b") == []


async def test_items_are_rearmed_not_duplicated_and_done_respects_generation(
    store: Store,
) -> None:
    await store.commit(ChangeSet(items=[_item("R1", due=NOW + 500)]))
    await store.commit(ChangeSet(items=[_item("R1", due=NOW + 100)]))  # re-arm: earlier due
    item = await store.get_item("R1:exec")
    assert item is not None
    assert (item.due_at, item.generation) == (NOW + 100, 1)
    stale = await store.commit(ChangeSet(items_done=[ItemDone("R1:exec", 0)]))
    assert stale.rearmed_items == {"R1:exec"}
    await store.commit(ChangeSet(items_done=[ItemDone("R1:exec", 1)]))
    assert await store.get_item("R1:exec") is None


async def test_due_items_are_claimed_once_until_their_lease_expires(store: Store) -> None:
    await store.commit(ChangeSet(items=[_item("R1", due=NOW), _item("R2", due=NOW + 1000)]))
    assert await store.next_due_at() == NOW
    claimed = await store.claim_due_items(now_ms=NOW, owner="a", lease_ms=100, limit=10)
    assert [i.item_id for i in claimed] == ["R1:exec"]
    assert claimed[0].lease_owner == "a"
    assert await store.claim_due_items(now_ms=NOW + 50, owner="b", lease_ms=100, limit=10) == []
    await store.renew_leases(owner="a", item_ids=["R1:exec"], until_ms=NOW + 300)
    assert await store.claim_due_items(now_ms=NOW + 200, owner="b", lease_ms=100, limit=10) == []
    retaken = await store.claim_due_items(now_ms=NOW + 1000, owner="b", lease_ms=100, limit=10)
    assert sorted(i.item_id for i in retaken) == ["R1:exec", "R2:exec"]
    assert {i.lease_owner for i in retaken} == {"b"}


async def test_rescheduling_moves_an_item_and_releases_its_lease(store: Store) -> None:
    await store.commit(ChangeSet(items=[_item("R1")]))
    [claimed] = await store.claim_due_items(now_ms=NOW, owner="a", lease_ms=10_000, limit=1)
    later = QueueItem(
        item_id=claimed.item_id, run_id="R1", kind=ItemKind.EXECUTE, due_at=NOW + 50, attempt=2
    )
    await store.commit(ChangeSet(items_rescheduled=[later]))
    got = await store.get_item("R1:exec")
    assert got is not None
    assert (got.due_at, got.attempt, got.lease_owner) == (NOW + 50, 2, None)
    assert [
        i.item_id
        for i in await store.claim_due_items(now_ms=NOW + 50, owner="b", lease_ms=100, limit=1)
    ] == ["R1:exec"]


async def test_item_puts_compare_and_set_on_generation(store: Store) -> None:
    debounce = QueueItem(
        item_id="debounce:f:k",
        run_id="debounce:f",
        kind=ItemKind.DEBOUNCE,
        due_at=NOW,
        payload={"event_ids": ["E1"]},
    )
    await store.commit(ChangeSet(items_put=[ItemPut(debounce, None)]))
    with pytest.raises(StoreConflict):  # created meanwhile by someone else
        await store.commit(ChangeSet(items_put=[ItemPut(debounce, None)]))
    current = await store.get_item("debounce:f:k")
    assert current is not None
    assert (current.generation, current.payload) == (0, {"event_ids": ["E1"]})
    moved = QueueItem(
        item_id="debounce:f:k",
        run_id="debounce:f",
        kind=ItemKind.DEBOUNCE,
        due_at=NOW + 5,
        payload={"event_ids": ["E2"]},
    )
    await store.commit(ChangeSet(items_put=[ItemPut(moved, 0)]))
    with pytest.raises(StoreConflict):  # stale generation
        await store.commit(ChangeSet(items_put=[ItemPut(moved, 0)]))
    current = await store.get_item("debounce:f:k")
    assert current is not None
    assert (current.generation, current.due_at, current.payload) == (
        1,
        NOW + 5,
        {"event_ids": ["E2"]},
    )
    with pytest.raises(StoreConflict):
        await store.commit(ChangeSet(items_put=[ItemPut(moved, 0, delete=True)]))
    await store.commit(ChangeSet(items_put=[ItemPut(moved, 1, delete=True)]))
    assert await store.get_item("debounce:f:k") is None
