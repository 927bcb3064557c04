"""The trace, flow state and event pages on every adapter (the ``store`` of ``conftest.py``)."""

from __future__ import annotations

import pytest

from stepwell.core.runs import RunStatus
from stepwell.ports.records import (
    ChangeSet,
    NewRun,
    RunRecord,
    RunUpdate,
    SpanKind,
    SpanStatus,
    StatePut,
    StepRow,
    StepSpan,
    StoredEvent,
)
from stepwell.ports.retention import Pruner
from stepwell.ports.store import Store, StoreConflict
from stepwell.protocol.events import Event

NOW = 1_700_000_000_000


def _run(run_id: str) -> RunRecord:
    return RunRecord(
        run_id=run_id,
        app_id="app",
        function_id="app-f",
        status=RunStatus.QUEUED,
        event_ids=[],
        created_at=NOW,
    )


def _span(
    step: str, attempt: int, started: int, status: SpanStatus = SpanStatus.COMPLETED
) -> StepSpan:
    return StepSpan(
        run_id="R1",
        step_hash=f"h-{step}",
        name=step,
        kind=SpanKind.RUN,
        attempt=attempt,
        status=status,
        started_at=started,
        ended_at=started + 5,
        queued_ms=attempt,
        error={"name": "Error", "message": "boom"} if status is SpanStatus.ERRORED else None,
    )


async def test_spans_are_upserted_and_read_in_start_order(store: Store) -> None:
    await store.commit(ChangeSet(runs=[NewRun(_run("R1"))]))
    first = _span("charge card", 0, NOW + 10, SpanStatus.ERRORED)
    await store.commit(ChangeSet(spans=[first, _span("send mail", 0, NOW + 30)]))
    await store.commit(ChangeSet(spans=[_span("charge card", 1, NOW + 20)]))
    trace = await store.run_trace("R1")
    assert [(s.name, s.attempt, s.status) for s in trace] == [
        ("charge card", 0, SpanStatus.ERRORED),
        ("charge card", 1, SpanStatus.COMPLETED),
        ("send mail", 0, SpanStatus.COMPLETED),
    ]
    assert trace[0] == first  # every field reads back as written
    # Writing a key again replaces its row: a sleep is WAITING, then COMPLETED.
    sleep = StepSpan("R1", "h-nap", "nap", SpanKind.SLEEP, 0, SpanStatus.WAITING, NOW + 40)
    await store.commit(ChangeSet(spans=[sleep]))
    woke = StepSpan(
        "R1", "h-nap", "nap", SpanKind.SLEEP, 0, SpanStatus.COMPLETED, NOW + 40, NOW + 90
    )
    await store.commit(ChangeSet(spans=[woke]))
    assert (await store.run_trace("R1"))[-1] == woke
    # Twice in one change set: the last one stands.
    again = StepSpan("R1", "h-x", "x", SpanKind.RUN, 0, SpanStatus.WAITING, NOW + 50)
    done = StepSpan("R1", "h-x", "x", SpanKind.RUN, 0, SpanStatus.COMPLETED, NOW + 50, NOW + 60)
    await store.commit(ChangeSet(spans=[again, done]))
    assert (await store.run_trace("R1"))[-1] == done
    assert len(await store.run_trace("R1")) == 5
    assert await store.run_trace("R2") == []


async def test_spans_go_with_a_conflicting_change_set(store: Store) -> None:
    await store.commit(ChangeSet(runs=[NewRun(_run("R1"))]))
    with pytest.raises(StoreConflict):
        await store.commit(ChangeSet(spans=[_span("a", 0, NOW)], pauses_consumed=["gone"]))
    assert await store.run_trace("R1") == []


async def test_pruning_a_run_deletes_its_spans(store: Store) -> None:
    assert isinstance(store, Pruner)
    await store.commit(ChangeSet(runs=[NewRun(_run("R1")), NewRun(_run("R2"))]))
    ended = RunUpdate("R1", RunStatus.COMPLETED, (RunStatus.QUEUED,), ended_at=NOW + 1)
    spans = [_span("a", 0, NOW), StepSpan("R2", "h", "b", SpanKind.RUN, 0, SpanStatus.WAITING, 1)]
    await store.commit(ChangeSet(run_updates=[ended], ended_runs=["R1"], spans=spans))
    result = await store.prune(older_than_ms=NOW + 1000)
    assert result.runs == 1
    assert await store.run_trace("R1") == []
    assert [s.name for s in await store.run_trace("R2")] == ["b"]  # a live run keeps its own


async def test_flow_state_is_written_by_compare_and_set(store: Store) -> None:
    await store.commit(ChangeSet(states=[StatePut("k", {"n": 1}, expect_version=None)]))
    assert await store.get_states(["k", "missing"]) == {"k": ({"n": 1}, 0)}
    with pytest.raises(StoreConflict):  # created meanwhile
        await store.commit(ChangeSet(states=[StatePut("k", {"n": 9}, expect_version=None)]))
    with pytest.raises(StoreConflict):  # a version that is not the current one
        await store.commit(ChangeSet(states=[StatePut("k", {"n": 9}, expect_version=3)]))
    assert await store.get_states(["k"]) == {"k": ({"n": 1}, 0)}
    await store.commit(ChangeSet(states=[StatePut("k", [2], expect_version=0)]))
    assert await store.get_states(["k"]) == {"k": ([2], 1)}
    with pytest.raises(StoreConflict):  # a version already replaced
        await store.commit(ChangeSet(states=[StatePut("k", [3], expect_version=0)]))
    await store.commit(ChangeSet(states=[StatePut("k", None, expect_version=1)]))
    assert await store.get_states(["k"]) == {"k": (None, 2)}
    assert await store.get_states([]) == {}


async def test_events_are_listed_newest_first_in_pages(store: Store) -> None:
    events = [
        StoredEvent(f"E{i}", Event(name="a/even" if i % 2 == 0 else "a/odd"), NOW + i * 10)
        for i in range(7)
    ]
    await store.commit(ChangeSet(events=events))
    seen: list[str] = []
    before: str | None = None
    while page := await store.list_events(limit=3, before_id=before):
        assert len(page) <= 3
        seen.extend(e.internal_id for e in page)
        before = page[-1].internal_id
    assert seen == ["E6", "E5", "E4", "E3", "E2", "E1", "E0"]
    evens = await store.list_events(name="a/even", limit=10)
    assert [e.internal_id for e in evens] == ["E6", "E4", "E2", "E0"]
    window = await store.list_events(received_after=NOW + 20, received_before=NOW + 50)
    assert [e.internal_id for e in window] == ["E4", "E3", "E2"]
    assert [e.internal_id for e in await store.get_events(["E3", "nope", "E1"])] == ["E3", "E1"]


async def test_a_span_written_with_its_step_reads_like_any_other(store: Store) -> None:
    """Stores may keep a settled step's span with its result (SQLite does); the port's rules
    hold all the same: one span a key, the last write shown."""
    await store.commit(ChangeSet(runs=[NewRun(_run("R1"))]))
    waiting = StepSpan(
        "R1", "h-wait", "approval", SpanKind.WAIT_FOR_EVENT, 0, SpanStatus.WAITING, 10
    )
    await store.commit(ChangeSet(spans=[waiting]))
    resumed = StepSpan(
        "R1", "h-wait", "approval", SpanKind.WAIT_FOR_EVENT, 0, SpanStatus.COMPLETED, 10, 70
    )
    ran = _span("charge card", 0, NOW)
    await store.commit(
        ChangeSet(
            steps=[StepRow("R1", "h-wait", {"name": "ok"}), StepRow("R1", "h-charge card", 1)],
            spans=[resumed, ran],
        )
    )
    assert await store.run_trace("R1") == [resumed, ran]
    assert await store.load_memo("R1") == {"h-wait": {"name": "ok"}, "h-charge card": 1}
    # Written again without its step: what it shows is replaced.
    rewritten = StepSpan(
        "R1",
        "h-charge card",
        "charge card",
        SpanKind.RUN,
        0,
        SpanStatus.FAILED,
        NOW,
        NOW + 9,
        error={"name": "Error", "message": "late"},
    )
    await store.commit(ChangeSet(spans=[rewritten]))
    assert await store.run_trace("R1") == [resumed, rewritten]
    # Another attempt of the same step is a span of its own.
    retried = _span("charge card", 1, NOW + 20)
    await store.commit(ChangeSet(spans=[retried]))
    assert await store.run_trace("R1") == [resumed, rewritten, retried]
