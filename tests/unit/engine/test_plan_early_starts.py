"""``Plan.early_starts``: which new runs may start while their plan's commit is being made.

Only a plan that nothing can refuse by a race: it inserts, updates nothing it read, and none
of its runs can be skipped. Any one part that could lose a race keeps every run back.
"""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from stepwell.core.runs import RunStatus
from stepwell.engine.plan import EARLY_START_MAX_RUNS, FreshRun, Lease, Plan
from stepwell.ports.records import (
    ChangeSet,
    ItemDone,
    ItemPut,
    NewRun,
    Pause,
    PauseKind,
    RunRecord,
    RunUpdate,
    StatePut,
    StepRow,
)

LEASE = Lease(owner="me", lease_ms=30_000)


def fresh_plan(runs: int, *, key: str | None = None) -> Plan:
    """A send's plan: ``runs`` new runs, each with its execute item leased here."""
    plan = Plan()
    for index in range(runs):
        record = RunRecord(f"r{index}", "app", "fn", RunStatus.QUEUED, ["e1"], created_at=1)
        plan.changes.runs.append(NewRun(record, idempotency_key=key))
        item = LEASE.execute_item(record.run_id, 1)
        plan.changes.items.append(item)
        LEASE.start_here(plan, item, FreshRun(record, []))
    return plan


def pause(kind: PauseKind) -> Pause:
    return Pause("p1", "r9", "h", kind, "ev/x", expires_at=10)


RACY: dict[str, Callable[[ChangeSet], None]] = {
    "run update": lambda c: c.run_updates.append(
        RunUpdate("r9", RunStatus.RUNNING, (RunStatus.QUEUED,))
    ),
    "step": lambda c: c.steps.append(StepRow("r9", "h", {"data": 1})),
    "pause consumed": lambda c: c.pauses_consumed.append("p1"),
    "state": lambda c: c.states.append(StatePut("k", 1, expect_version=0)),
    "item removed": lambda c: c.items_removed.append("i1"),
    "item put": lambda c: c.items_put.append(
        ItemPut(LEASE.execute_item("r9", 1), expect_generation=0)
    ),
    "run ended": lambda c: c.ended_runs.append("r9"),
    "item done": lambda c: c.items_done.append(ItemDone("i1", 0)),
    "item rescheduled": lambda c: c.items_rescheduled.append(LEASE.execute_item("r9", 1)),
    "signal pause": lambda c: c.pauses.append(pause(PauseKind.SIGNAL)),
}


def test_a_plan_that_only_inserts_starts_its_runs_early() -> None:
    plan = fresh_plan(3)
    plan.changes.pauses.append(pause(PauseKind.CANCEL))  # cancel_on, stored with its run
    assert [item.run_id for item in plan.early_starts()] == ["r0", "r1", "r2"]


def test_a_plan_without_new_runs_starts_nothing_early() -> None:
    plan = Plan()
    LEASE.start_here(plan, LEASE.execute_item("r9", 1))  # a resumed run: not fresh
    assert plan.early_starts() == []


def test_a_big_plan_commits_before_its_runs_start() -> None:
    assert len(fresh_plan(EARLY_START_MAX_RUNS).early_starts()) == EARLY_START_MAX_RUNS
    assert fresh_plan(EARLY_START_MAX_RUNS + 1).early_starts() == []


def test_a_run_with_an_idempotency_key_waits_for_its_commit() -> None:
    assert fresh_plan(2, key="order-7").early_starts() == []


@given(
    racy=st.sets(st.sampled_from(sorted(RACY)), min_size=1),
    runs=st.integers(1, EARLY_START_MAX_RUNS),
)
def test_any_part_that_can_lose_a_race_keeps_every_run_back(racy: set[str], runs: int) -> None:
    plan = fresh_plan(runs)
    for name in racy:
        RACY[name](plan.changes)
    assert plan.early_starts() == []
