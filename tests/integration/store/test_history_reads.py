"""The dashboard's narrow reads on every adapter: the live fingerprint, the overview's counts
and backlog, steps per second, and invoked runs found by correlation id."""

from __future__ import annotations

import pytest

from stepwell.core.runs import RunStatus
from stepwell.ports.history import ActivityBucket, Backlog
from stepwell.ports.records import (
    ChangeSet,
    ItemKind,
    NewRun,
    QueueItem,
    RunRecord,
    RunUpdate,
    SpanKind,
    SpanStatus,
    StepRow,
    StepSpan,
)
from stepwell.ports.store import Store

NOW = 1_700_000_000_000
MINUTE = 60_000


def _run(run_id: str, created: int, correlation: str | None = None) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        app_id="app",
        function_id="app-f",
        status=RunStatus.QUEUED,
        event_ids=[],
        created_at=created,
        correlation_id=correlation,
    )


def _update(run_id: str, status: RunStatus, **times: int) -> RunUpdate:
    return RunUpdate(run_id, status, (RunStatus.QUEUED, RunStatus.RUNNING), **times)  # type: ignore[arg-type]


async def test_the_fingerprint_moves_when_a_run_is_created_starts_or_ends(store: Store) -> None:
    empty = await store.runs_fingerprint()
    await store.commit(ChangeSet(runs=[NewRun(_run("R1", NOW))]))
    created = await store.runs_fingerprint()
    assert created != empty
    assert await store.runs_fingerprint() == created  # nothing changed: the same
    await store.commit(ChangeSet(run_updates=[_update("R1", RunStatus.RUNNING, started_at=NOW)]))
    started = await store.runs_fingerprint()
    assert started != created
    # A second run starting in the same millisecond still moves it.
    await store.commit(ChangeSet(runs=[NewRun(_run("R0", NOW))]))
    before = await store.runs_fingerprint()
    assert before == started  # an older id: the newest id is still R1
    await store.commit(ChangeSet(run_updates=[_update("R0", RunStatus.RUNNING, started_at=NOW)]))
    assert await store.runs_fingerprint() != before
    before = await store.runs_fingerprint()
    ended = _update("R1", RunStatus.COMPLETED, ended_at=NOW + 5)
    await store.commit(ChangeSet(run_updates=[ended], ended_runs=["R1"]))
    assert await store.runs_fingerprint() != before


async def test_activity_is_counted_in_buckets(store: Store) -> None:
    runs = [_run(f"R{i}", NOW + i * MINUTE) for i in range(4)]
    runs.append(_run("OLD", NOW - MINUTE))  # before the window
    await store.commit(ChangeSet(runs=[NewRun(r) for r in runs]))
    updates = [
        _update("R0", RunStatus.COMPLETED, ended_at=NOW + 10),
        _update("R1", RunStatus.FAILED, ended_at=NOW + MINUTE + 10),
        _update("R2", RunStatus.CANCELLED, ended_at=NOW + MINUTE + 20),
        _update("OLD", RunStatus.COMPLETED, ended_at=NOW + 3 * MINUTE),
    ]
    await store.commit(ChangeSet(run_updates=updates, ended_runs=["R0", "R1", "R2", "OLD"]))
    buckets = await store.run_activity(NOW, NOW + 4 * MINUTE, 2 * MINUTE)
    assert buckets == [
        ActivityBucket(NOW, started=2, completed=1, failed=1, cancelled=1),
        ActivityBucket(NOW + 2 * MINUTE, started=2, completed=1),
    ]
    # A window not a whole number of buckets: the last bucket is partial, still there.
    assert len(await store.run_activity(NOW, NOW + 5 * MINUTE, 2 * MINUTE)) == 3
    with pytest.raises(ValueError, match="since < until"):
        await store.run_activity(NOW, NOW, MINUTE)


async def test_backlog_is_due_work_nobody_holds(store: Store) -> None:
    assert await store.backlog(NOW) == Backlog(due=0, oldest_due_at=None)
    await store.commit(ChangeSet(runs=[NewRun(_run("R1", NOW))]))
    items = [
        QueueItem("a", "R1", ItemKind.EXECUTE, due_at=NOW - 500),
        QueueItem("b", "R1", ItemKind.SLEEP, due_at=NOW - 100),
        QueueItem("later", "R1", ItemKind.SLEEP, due_at=NOW + 100),
        QueueItem(
            "held",
            "R1",
            ItemKind.EXECUTE,
            due_at=NOW - 900,
            lease_owner="p",
            lease_until=NOW + 1000,
        ),
        QueueItem(
            "lapsed", "R1", ItemKind.EXECUTE, due_at=NOW - 700, lease_owner="p", lease_until=NOW - 1
        ),
    ]
    await store.commit(ChangeSet(items=items))
    assert await store.backlog(NOW) == Backlog(due=3, oldest_due_at=NOW - 700)


async def test_steps_ended_counts_each_attempt_once_among_recent_runs(store: Store) -> None:
    await store.commit(
        ChangeSet(runs=[NewRun(_run("R1", NOW)), NewRun(_run("OLD", NOW - 90 * MINUTE))])
    )

    def span(run: str, step: str, attempt: int, ended: int, status: SpanStatus) -> StepSpan:
        return StepSpan(run, f"h-{step}", step, SpanKind.RUN, attempt, status, ended - 5, ended)

    spans = [
        span("R1", "a", 0, NOW + 10, SpanStatus.ERRORED),
        span("R1", "a", 1, NOW + 20, SpanStatus.COMPLETED),  # settled: in its steps row on SQLite
        span("R1", "b", 0, NOW - 2 * MINUTE, SpanStatus.COMPLETED),  # ended before the window
        span("OLD", "c", 0, NOW + 30, SpanStatus.COMPLETED),  # a run neither recent nor ended
    ]
    steps = [StepRow("R1", "h-a", {"data": 1}), StepRow("R1", "h-b", {"data": 2})]
    steps.append(StepRow("OLD", "h-c", {"data": 3}))
    await store.commit(ChangeSet(steps=steps, spans=spans))
    assert await store.steps_ended(NOW, NOW - 60 * MINUTE) == 2
    # Once the old run ends in the window, its steps count too.
    ended = _update("OLD", RunStatus.COMPLETED, ended_at=NOW + 40)
    await store.commit(ChangeSet(run_updates=[ended], ended_runs=["OLD"]))
    assert await store.steps_ended(NOW, NOW - 60 * MINUTE) == 3


async def test_invoked_runs_are_found_by_correlation_id(store: Store) -> None:
    runs = [
        _run("P", NOW),
        _run("C1", NOW + 5, correlation="P.h1"),
        _run("C2", NOW + 6, correlation="P.h2"),
        _run("EARLY", NOW - 5, correlation="P.h1"),  # before the window asked for
        _run("X", NOW + 7, correlation="Q.h1"),
    ]
    await store.commit(ChangeSet(runs=[NewRun(r) for r in runs]))
    found = await store.correlated_runs(["P.h1", "P.h2"], NOW)
    assert [r.run_id for r in found] == ["C1", "C2"]
    assert await store.correlated_runs([], NOW) == []
