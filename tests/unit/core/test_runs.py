"""The run state machine."""

from __future__ import annotations

import itertools

import pytest

from stepwell.core.runs import RunStatus, can_transition

Q, R, C, F, X = (
    RunStatus.QUEUED,
    RunStatus.RUNNING,
    RunStatus.COMPLETED,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
)
TERMINAL = {C, F, X}
ALLOWED = {(Q, R), (Q, X), (Q, F), (R, C), (R, F), (R, X)}


def test_status_strings() -> None:
    assert [status.value for status in RunStatus] == [
        "Queued",
        "Running",
        "Completed",
        "Failed",
        "Cancelled",
    ]
    assert RunStatus("Completed") is C
    assert C == "Completed"


def test_terminal_states() -> None:
    assert {status for status in RunStatus if status.is_terminal} == TERMINAL
    assert not Q.is_terminal
    assert not R.is_terminal


@pytest.mark.parametrize(("current", "target"), list(itertools.product(RunStatus, RunStatus)))
def test_transition_table(current: RunStatus, target: RunStatus) -> None:
    assert can_transition(current, target) is ((current, target) in ALLOWED)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_states_are_final(terminal: RunStatus) -> None:
    assert not any(can_transition(terminal, target) for target in RunStatus)


def test_queued_run_may_end_without_running_but_not_complete() -> None:
    assert can_transition(Q, X)
    assert can_transition(Q, F)
    assert not can_transition(Q, C)
    assert not can_transition(R, Q)
