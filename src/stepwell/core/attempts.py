"""Attempts and retries (protocol.md §5.8): the one place that says when a failure is final.

Attempts count from 0. A run or a step may try ``max_attempts`` times in all; once a step has
settled (its result stored, or its final error, which the code may catch), the next step's
failures count their attempts afresh from 0.
"""

from __future__ import annotations

FIRST_ATTEMPT = 0
"""The attempt number of a first try, and of the next try after any settled step."""


def is_final_attempt(attempt: int, max_attempts: int) -> bool:
    """Whether a failure on ``attempt`` (0-based) uses up the last of ``max_attempts``."""
    return attempt + 1 >= max_attempts


def may_retry(attempt: int, max_attempts: int, *, retriable: bool = True) -> bool:
    """Whether a failure on ``attempt`` is tried again: retriable and not the last attempt."""
    return retriable and not is_final_attempt(attempt, max_attempts)


def attempt_after_success(attempt: int) -> int:
    """A settled step resets the count: the next failure starts again from the first attempt."""
    del attempt  # the count restarts whatever it was
    return FIRST_ATTEMPT
