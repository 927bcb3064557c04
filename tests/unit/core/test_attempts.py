"""Attempts and retries (protocol.md §5.8), checked as properties of a simulated step.

A step is tried by a loop that asks ``core.attempts`` what to do after each failure, the way
the drivers and the SDK runtime do; the properties are about how many tries that loop makes.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stepwell.core.attempts import (
    FIRST_ATTEMPT,
    attempt_after_success,
    is_final_attempt,
    may_retry,
)

SETTINGS = settings(max_examples=300, derandomize=True, database=None, deadline=None)
attempts = st.integers(min_value=0, max_value=1_000)
maxima = st.integers(min_value=1, max_value=1_000)


def tries_until_final(start: int, max_attempts: int, *, retriable: bool = True) -> int:
    """How many tries a step makes from ``start`` when every one of them fails."""
    attempt, tries = start, 0
    while True:
        tries += 1
        if not may_retry(attempt, max_attempts, retriable=retriable):
            return tries
        attempt += 1


@SETTINGS
@given(maxima)
def test_every_try_failing_makes_exactly_max_attempts_tries(max_attempts: int) -> None:
    assert tries_until_final(FIRST_ATTEMPT, max_attempts) == max_attempts


@SETTINGS
@given(attempts, maxima)
def test_a_later_start_leaves_only_the_remaining_tries(attempt: int, max_attempts: int) -> None:
    assert tries_until_final(attempt, max_attempts) == max(1, max_attempts - attempt)


@SETTINGS
@given(attempts, maxima)
def test_a_non_retriable_failure_is_never_retried(attempt: int, max_attempts: int) -> None:
    assert not may_retry(attempt, max_attempts, retriable=False)
    assert tries_until_final(attempt, max_attempts, retriable=False) == 1


@SETTINGS
@given(attempts, maxima)
def test_may_retry_is_retriable_and_not_final(attempt: int, max_attempts: int) -> None:
    assert may_retry(attempt, max_attempts) is not is_final_attempt(attempt, max_attempts)


@SETTINGS
@given(maxima)
def test_only_the_last_attempt_is_final(max_attempts: int) -> None:
    finals = [a for a in range(max_attempts) if is_final_attempt(a, max_attempts)]
    assert finals == [max_attempts - 1]


@SETTINGS
@given(attempts)
def test_a_single_attempt_is_always_final(attempt: int) -> None:
    assert is_final_attempt(attempt, 1)


@SETTINGS
@given(attempts, maxima)
def test_a_success_resets_the_count(attempt: int, max_attempts: int) -> None:
    after = attempt_after_success(attempt)
    assert after == FIRST_ATTEMPT
    # The next step that fails throughout gets all its tries again.
    assert tries_until_final(after, max_attempts) == max_attempts


@SETTINGS
@given(st.lists(st.integers(min_value=0, max_value=20), max_size=30), maxima)
def test_each_step_gets_the_full_budget_after_earlier_successes(
    failures_per_step: list[int], max_attempts: int
) -> None:
    """Steps in sequence, each failing some times before it succeeds, on one attempt count."""
    attempt = FIRST_ATTEMPT
    for failures in failures_per_step:
        tries = 0
        while True:
            tries += 1
            if tries > failures:  # this try succeeds
                attempt = attempt_after_success(attempt)
                break
            if not may_retry(attempt, max_attempts):
                # Out of retries after exactly the budget, whatever earlier steps used.
                assert tries == max_attempts <= failures
                return
            attempt += 1
        assert tries == failures + 1 <= max_attempts
    assert attempt == FIRST_ATTEMPT
