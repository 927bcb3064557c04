"""engine.trace: how a step's span is timed, and how a waiting span rides on its timer."""

from __future__ import annotations

from stepwell.engine.trace import ExecutionClock, closed_span, span_payload
from stepwell.ports.records import SpanKind, SpanStatus
from stepwell.protocol.ops import Op, Opcode


def test_each_step_is_timed_from_the_last_boundary_and_only_the_first_bears_the_delay() -> None:
    clock = ExecutionClock(1_000, queued_ms=250)
    first = clock.span(
        Op(Opcode.STEP_RUN, "h1", "first", "first step"),
        run_id="R",
        attempt=0,
        status=SpanStatus.COMPLETED,
        now_ms=1_040,
    )
    second = clock.span(
        Op(Opcode.STEP_FAILED, "h2", "second", error={"name": "E", "message": "m"}),
        run_id="R",
        attempt=2,
        status=SpanStatus.FAILED,
        now_ms=1_100,
    )
    assert first is not None
    assert second is not None
    assert (first.name, first.kind, first.started_at, first.ended_at) == (
        "first step",
        SpanKind.RUN,
        1_000,
        1_040,
    )
    assert first.queued_ms == 250
    assert first.error is None
    assert (second.name, second.started_at, second.ended_at, second.attempt) == (
        "second",
        1_040,
        1_100,
        2,
    )
    assert second.queued_ms == 0
    assert second.error == {"name": "E", "message": "m"}


def test_a_wait_does_not_move_the_boundary_and_ops_that_are_no_steps_have_no_span() -> None:
    clock = ExecutionClock(0, queued_ms=0)
    waiting = clock.span(
        Op(Opcode.SLEEP, "h1", "nap"),
        run_id="R",
        attempt=0,
        status=SpanStatus.WAITING,
        now_ms=30,
        ended=False,
    )
    assert waiting is not None
    assert waiting.ended_at is None
    assert waiting.kind is SpanKind.SLEEP
    assert clock.boundary == 0
    planned = Op(Opcode.STEP_PLANNED, "h2", "later")
    assert (
        clock.span(planned, run_id="R", attempt=0, status=SpanStatus.COMPLETED, now_ms=40) is None
    )


def test_a_waiting_span_carried_by_its_timer_closes_when_the_timer_ends_it() -> None:
    clock = ExecutionClock(10, queued_ms=0)
    waiting = clock.span(
        Op(Opcode.WAIT_FOR_EVENT, "h1", "approval"),
        run_id="R",
        attempt=0,
        status=SpanStatus.WAITING,
        now_ms=20,
        ended=False,
    )
    assert waiting is not None
    closed = closed_span(span_payload(waiting), 5_000)
    assert closed is not None
    assert (closed.name, closed.kind, closed.status) == (
        "approval",
        SpanKind.WAIT_FOR_EVENT,
        SpanStatus.COMPLETED,
    )
    assert (closed.started_at, closed.ended_at) == (10, 5_000)


def test_a_timer_without_a_readable_span_closes_nothing() -> None:
    assert closed_span(None, 1) is None
    assert closed_span({"span": "junk"}, 1) is None
    assert closed_span({"span": {"run_id": "R"}}, 1) is None
    assert closed_span({"span": {**_payload(), "kind": "NOT_A_KIND"}}, 1) is None


def _payload() -> dict[str, object]:
    clock = ExecutionClock(0, queued_ms=0)
    span = clock.span(
        Op(Opcode.SLEEP, "h", "nap"),
        run_id="R",
        attempt=0,
        status=SpanStatus.WAITING,
        now_ms=0,
        ended=False,
    )
    assert span is not None
    raw = span_payload(span)["span"]
    assert isinstance(raw, dict)
    return raw


def test_a_measured_step_begins_when_its_work_began_so_parallel_steps_overlap() -> None:
    clock = ExecutionClock(1_000, queued_ms=0)
    left = Op(Opcode.STEP_RUN, "h1", "left", duration_ms=60)
    right = Op(Opcode.STEP_RUN, "h2", "right", duration_ms=58)
    first = clock.span(left, run_id="R", attempt=0, status=SpanStatus.COMPLETED, now_ms=1_061)
    second = clock.span(right, run_id="R", attempt=0, status=SpanStatus.COMPLETED, now_ms=1_062)
    assert first is not None
    assert second is not None
    assert (first.started_at, first.ended_at) == (1_001, 1_061)
    assert (second.started_at, second.ended_at) == (1_004, 1_062)
    assert first.ended_at is not None
    assert second.started_at < first.ended_at  # side by side
    # Never before the execution itself began.
    late = Op(Opcode.STEP_RUN, "h3", "long", duration_ms=10_000)
    third = clock.span(late, run_id="R", attempt=0, status=SpanStatus.COMPLETED, now_ms=1_100)
    assert third is not None
    assert third.started_at == 1_000
