"""Retry backoff (protocol.md §5.8)."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepwell.core.backoff import (
    INNGEST_TABLE_SECONDS,
    MAX_JITTER_SECONDS,
    Backoff,
    FixedBackoff,
    TableBackoff,
    clamp_retries,
    clamp_retry_after,
)

# 15s, 30s, 1m, 2m, 5m, 10m, 20m, 40m, 1h, 2h
TABLE = [15, 30, 60, 120, 300, 600, 1200, 2400, 3600, 7200]


def test_table_matches_inngest() -> None:
    assert list(INNGEST_TABLE_SECONDS) == TABLE
    assert MAX_JITTER_SECONDS == 30.0
    assert TableBackoff().jitter_seconds == 30.0


def test_table_without_jitter_follows_the_table_then_caps() -> None:
    backoff = TableBackoff(jitter_seconds=0.0)
    assert [backoff.delay_seconds(attempt) for attempt in range(13)] == [*TABLE, 7200, 7200, 7200]
    assert backoff.delay_seconds(10_000) == 7200
    assert backoff.delay_seconds(-3) == 15


def test_seeded_jitter_is_reproducible_and_in_range() -> None:
    first = TableBackoff(rng=random.Random(42))
    second = TableBackoff(rng=random.Random(42))
    delays = [first.delay_seconds(attempt) for attempt in range(12)]
    assert delays == [second.delay_seconds(attempt) for attempt in range(12)]
    reference = random.Random(42)
    expected = [TABLE[min(i, 9)] + reference.uniform(0.0, 30.0) for i in range(12)]
    assert delays == pytest.approx(expected)
    for attempt, delay in enumerate(delays):
        base = TABLE[min(attempt, 9)]
        assert base <= delay <= base + 30.0
    # Jitter actually varies.
    assert len({round(delay - TABLE[min(i, 9)], 6) for i, delay in enumerate(delays)}) > 1


@given(
    attempt=st.integers(min_value=-5, max_value=1_000),
    seed=st.integers(min_value=0, max_value=2**32),
    jitter=st.sampled_from([0.0, 1.0, 30.0]),
)
def test_delay_is_table_entry_plus_bounded_jitter(attempt: int, seed: int, jitter: float) -> None:
    delay = TableBackoff(jitter_seconds=jitter, rng=random.Random(seed)).delay_seconds(attempt)
    base = TABLE[min(max(attempt, 0), len(TABLE) - 1)]
    assert base <= delay <= base + jitter


def test_unseeded_table_still_in_range() -> None:
    for attempt in range(12):
        base = TABLE[min(attempt, 9)]
        assert base <= TableBackoff().delay_seconds(attempt) <= base + 30.0


def test_fixed_backoff() -> None:
    backoff = FixedBackoff(1.0)
    assert [backoff.delay_seconds(attempt) for attempt in (0, 1, 5, 100)] == [1.0] * 4
    assert FixedBackoff(0).delay_seconds(3) == 0


def test_fixed_backoff_refuses_negative() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        FixedBackoff(-0.5)


def test_both_satisfy_the_backoff_protocol() -> None:
    backoffs: list[Backoff] = [TableBackoff(jitter_seconds=0.0), FixedBackoff(2.0)]
    assert [b.delay_seconds(1) for b in backoffs] == [30, 2.0]


@pytest.mark.parametrize(
    ("given_seconds", "expected"),
    [
        (-10.0, 1.0),
        (0.0, 1.0),
        (0.5, 1.0),
        (1.0, 1.0),
        (5.0, 5.0),
        (3600.0, 3600.0),
        (86_400.0, 86_400.0),
        (86_401.0, 86_400.0),
        (1e12, 86_400.0),
        (math.inf, 86_400.0),
        (-math.inf, 1.0),
    ],
)
def test_clamp_retry_after(given_seconds: float, expected: float) -> None:
    assert clamp_retry_after(given_seconds) == expected


@given(st.floats(allow_nan=False))
def test_clamped_retry_after_is_within_bounds(seconds: float) -> None:
    clamped = clamp_retry_after(seconds)
    assert 1.0 <= clamped <= 86_400.0
    if 1.0 <= seconds <= 86_400.0:
        assert clamped == seconds


def test_clamp_retry_after_nan_is_within_bounds() -> None:
    assert 1.0 <= clamp_retry_after(math.nan) <= 86_400.0


@pytest.mark.parametrize(("retries", "expected"), [(0, 0), (4, 4), (20, 20), (21, 20), (10**6, 20)])
def test_clamp_retries_caps_at_twenty(retries: int, expected: int) -> None:
    assert clamp_retries(retries) == expected


@pytest.mark.parametrize("retries", [-1, -100])
def test_clamp_retries_refuses_negatives(retries: int) -> None:
    with pytest.raises(ValueError, match="zero or more"):
        clamp_retries(retries)
