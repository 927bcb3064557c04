"""PostgreSQL only: several processes share one database.

Each ``PostgresStore`` here has its own connections, as a separate process would, so what
they do at once really races in the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import psycopg
import pytest

from stepwell.core.runs import RunStatus
from stepwell.ports.records import (
    ChangeSet,
    ItemKind,
    NewRun,
    QueueItem,
    RunRecord,
    RunUpdate,
    StatePut,
    StepRow,
)
from stepwell.ports.store import StoreConflict
from stepwell.store.migrations import load_migrations
from stepwell.store.postgres.store import PostgresStore
from tests.waiting import eventually

NOW = 1_700_000_000_000


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def _item(n: int, due: int = NOW) -> QueueItem:
    return QueueItem(item_id=f"R{n:04}:exec", run_id=f"R{n:04}", kind=ItemKind.EXECUTE, due_at=due)


def _collector() -> tuple[list[int], Callable[[int], None]]:
    woken: list[int] = []
    return woken, woken.append


async def test_migrations_run_once_when_processes_start_at_once(pg_url: str) -> None:
    every = [m.version for m in load_migrations("stepwell.store.postgres")]
    assert every[:7] == [1, 2, 3, 4, 5, 6, 7]
    applied = await asyncio.gather(*(PostgresStore(pg_url).migrate() for _ in range(6)))
    assert sorted(applied) == [[], [], [], [], [], every]
    with psycopg.connect(pg_url) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations")]
    assert sorted(versions) == every


async def test_concurrent_claims_take_each_item_once(pg_url: str) -> None:
    async with opened(pg_url) as a, opened(pg_url) as b:
        await a.commit(ChangeSet(items=[_item(n) for n in range(300)]))

        async def drain(store: PostgresStore, owner: str) -> list[str]:
            taken: list[str] = []
            while claimed := await store.claim_due_items(
                now_ms=NOW, owner=owner, lease_ms=60_000, limit=7
            ):
                taken += [item.item_id for item in claimed]
            return taken

        by_a, by_b, by_a2 = await asyncio.gather(drain(a, "a"), drain(b, "b"), drain(a, "a2"))
    assert len(by_a) + len(by_b) + len(by_a2) == 300
    assert set(by_a) | set(by_b) | set(by_a2) == {f"R{n:04}:exec" for n in range(300)}
    assert all((by_a, by_b, by_a2))  # all of them took part


async def test_a_dead_process_s_items_are_taken_over_when_its_lease_expires(pg_url: str) -> None:
    async with opened(pg_url) as survivor:
        dead = PostgresStore(pg_url)
        await dead.open()
        await dead.commit(ChangeSet(items=[_item(1)]))
        [claimed] = await dead.claim_due_items(now_ms=NOW, owner="dead", lease_ms=1000, limit=5)
        assert claimed.lease_owner == "dead"
        # It dies: it renews nothing and hands nothing back.
        assert (
            await survivor.claim_due_items(now_ms=NOW + 999, owner="alive", lease_ms=1000, limit=5)
            == []
        )
        [taken] = await survivor.claim_due_items(
            now_ms=NOW + 1000, owner="alive", lease_ms=1000, limit=5
        )
        assert (taken.item_id, taken.lease_owner) == (claimed.item_id, "alive")
        await dead.close()  # frees its connections; what it held is no longer its own
        still = await survivor.get_item(claimed.item_id)
        assert still is not None
        assert still.lease_owner == "alive"


async def test_a_clean_close_hands_leases_back_and_wakes_the_others(pg_url: str) -> None:
    async with opened(pg_url) as other:
        woken, wake = _collector()
        await other.listen(wake)
        async with opened(pg_url) as leaving:
            await leaving.commit(ChangeSet(items=[_item(1, due=NOW + 5)]))
            await eventually(lambda: woken == [NOW + 5], what="woken by the new item")
            await leaving.claim_due_items(now_ms=NOW + 5, owner="x", lease_ms=60_000, limit=1)
        await eventually(lambda: woken == [NOW + 5, NOW + 5], what="woken by the release")
        [again] = await other.claim_due_items(now_ms=NOW + 5, owner="y", lease_ms=10, limit=1)
        assert again.item_id == "R0001:exec"


async def test_commits_wake_other_listeners_but_not_their_own(pg_url: str) -> None:
    async with opened(pg_url) as a, opened(pg_url) as b:
        a_woken, a_wake = _collector()
        b_woken, b_wake = _collector()
        await a.listen(a_wake)
        await b.listen(b_wake)
        leased = _item(2, due=NOW)
        leased.lease_owner, leased.lease_until = "a", NOW + 1000
        await a.commit(ChangeSet(items=[_item(1, due=NOW + 70), leased]))
        await a.commit(ChangeSet(items=[leased]))  # leased work is no one else's business
        await b.commit(ChangeSet(items=[_item(3, due=NOW + 30)]))
        await eventually(lambda: b_woken == [NOW + 70] and a_woken == [NOW + 30], what="wakes")
        await asyncio.sleep(0.05)
    assert (a_woken, b_woken) == ([NOW + 30], [NOW + 70])


async def test_compare_and_set_lets_exactly_one_process_win(pg_url: str) -> None:
    async with opened(pg_url) as a, opened(pg_url) as b:
        first = await asyncio.gather(
            *(
                store.commit(ChangeSet(states=[StatePut("k", {"by": n}, None)]))
                for n, store in enumerate((a, b, a, b))
            ),
            return_exceptions=True,
        )
        assert sum(isinstance(outcome, StoreConflict) for outcome in first) == 3
        [(_, version)] = (await b.get_states(["k"])).values()
        second = await asyncio.gather(
            a.commit(ChangeSet(states=[StatePut("k", "a", version)])),
            b.commit(ChangeSet(states=[StatePut("k", "b", version)])),
            return_exceptions=True,
        )
        assert sum(isinstance(outcome, StoreConflict) for outcome in second) == 1
        assert (await a.get_states(["k"]))["k"][1] == version + 1


async def test_a_step_never_lands_on_a_run_another_process_ended(pg_url: str) -> None:
    run = RunRecord("R1", "app", "app-f", RunStatus.RUNNING, ["E1"], NOW)
    end = RunUpdate("R1", RunStatus.CANCELLED, (RunStatus.QUEUED, RunStatus.RUNNING))
    async with opened(pg_url) as a, opened(pg_url) as b:
        await a.commit(ChangeSet(runs=[NewRun(run)]))
        outcomes = await asyncio.gather(
            a.commit(ChangeSet(run_updates=[end], ended_runs=["R1"])),
            *(b.commit(ChangeSet(steps=[StepRow("R1", f"h{n}", n)])) for n in range(20)),
            return_exceptions=True,
        )
        stored = await a.load_memo("R1")
    assert not isinstance(outcomes[0], BaseException)
    # Every step either landed before the run ended (and is in the memo) or conflicted.
    for n, outcome in enumerate(outcomes[1:]):
        assert (f"h{n}" in stored) != isinstance(outcome, StoreConflict)


async def test_an_unexpected_database_error_fails_only_its_change_set(pg_url: str) -> None:
    from stepwell.store.postgres.writer import ChangeSetError

    run = RunRecord("R1", "app", "app-f", RunStatus.QUEUED, ["E1"], NOW)
    async with opened(pg_url) as store:
        await store.commit(ChangeSet(runs=[NewRun(run)]))
        duplicate, fine = await asyncio.gather(
            store.commit(ChangeSet(runs=[NewRun(run)])),  # the same run id again
            store.commit(ChangeSet(items=[_item(1)])),
            return_exceptions=True,
        )
        assert isinstance(duplicate, ChangeSetError)
        assert duplicate.sqlstate == "23505"  # unique_violation
        assert not isinstance(fine, BaseException)
        assert await store.get_item("R0001:exec") is not None


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
async def test_open_store_takes_both_url_schemes(pg_url: str, scheme: str) -> None:
    from stepwell.store import open_store

    store = open_store(scheme + pg_url.removeprefix("postgresql"))
    assert isinstance(store, PostgresStore)
    await store.open()
    try:
        assert await store.next_due_at() is None
    finally:
        await store.close()
