"""Throttle (GCRA) and rate limit (sliding log) under arbitrary arrivals (protocol.md §3.4.2).

The clock is the test's: arrivals are generated millisecond timestamps, fed in order, with the
state carried from one decision to the next exactly as ``engine.admission.decide`` carries it.
Bounds are computed in exact rational arithmetic so that only the code under test uses floats.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from stepwell.core.rates import Gcra, SlidingLimit

SETTINGS = settings(max_examples=150, derandomize=True, database=None, deadline=None)

# Epoch milliseconds around 2026: floats lose sub-millisecond precision at this magnitude,
# so the rules are checked where they really run, not only near zero.
EPOCH_2026_MS = 1_767_225_600_000


def count_in(times: list[int], start: int, length: int) -> int:
    """How many of the sorted ``times`` lie in the half-open window [start, start + length)."""
    return bisect_left(times, start + length) - bisect_left(times, start)


@st.composite
def arrivals(draw: st.DrawFn, spacing_ms: int, max_size: int = 60) -> list[int]:
    """Non-decreasing arrival times; gaps cluster around 0 and around ``spacing_ms``."""
    base = draw(st.sampled_from([0, 1, EPOCH_2026_MS])) + draw(st.integers(0, 10**6))
    gap = st.one_of(
        st.just(0),
        st.integers(0, 3),
        st.integers(max(0, spacing_ms - 2), spacing_ms + 2),
        st.integers(0, 3 * spacing_ms + 1),
    )
    gaps = draw(st.lists(gap, min_size=1, max_size=max_size))
    times: list[int] = []
    now = base
    for step in gaps:
        now += step
        times.append(now)
    return times


# --- rate limit: a sliding log, excess dropped ------------------------------------------------


@st.composite
def rate_limit_cases(draw: st.DrawFn) -> tuple[SlidingLimit, list[int]]:
    limit = draw(st.integers(1, 6))
    period = draw(st.one_of(st.integers(1, 20), st.integers(1000, 86_400_000)))
    return SlidingLimit(limit, period), draw(arrivals(max(1, period // limit)))


@SETTINGS
@given(rate_limit_cases())
def test_rate_limit_never_exceeds_its_limit_in_any_window(
    case: tuple[SlidingLimit, list[int]],
) -> None:
    rule, times = case
    recent: list[int] = []
    admitted: list[int] = []
    for now in times:
        ok, recent = rule.admit(recent, now)
        if ok:
            admitted.append(now)
        # The remembered log stays small and only holds what can still matter.
        assert len(recent) <= rule.limit
        assert all(now - rule.period_ms < t <= now for t in recent)
    # The busiest half-open window starts at an admitted time: checking those is exhaustive.
    for start in admitted:
        assert count_in(admitted, start, rule.period_ms) <= rule.limit


@SETTINGS
@given(rate_limit_cases())
def test_rate_limit_admits_greedily(case: tuple[SlidingLimit, list[int]]) -> None:
    """An arrival is refused exactly when ``limit`` admissions lie within the preceding period."""
    rule, times = case
    recent: list[int] = []
    admitted: list[int] = []
    for now in times:
        ok, recent = rule.admit(recent, now)
        within = sum(1 for t in admitted if now - rule.period_ms < t <= now)
        assert ok == (within < rule.limit), (now, admitted)
        if ok:
            admitted.append(now)


def test_rate_limit_window_is_half_open() -> None:
    rule = SlidingLimit(limit=1, period_ms=1000)
    ok, recent = rule.admit([], 5000)
    assert ok
    assert rule.admit(recent, 5999)[0] is False  # still within (4999, 5999]
    assert rule.admit(recent, 6000)[0] is True  # 5000 left the window


# --- throttle: GCRA, excess delayed ----------------------------------------------------------


@st.composite
def gcra_rules(draw: st.DrawFn) -> Gcra:
    period = draw(st.sampled_from([1000, 1001, 6000, 60_000, 86_400_000, 7 * 86_400_000]))
    # Mostly small limits; sometimes more starts per period than milliseconds in it.
    limit = draw(st.one_of(st.integers(1, 8), st.sampled_from([3, 7, 1000, 1500, 2500])))
    return Gcra(limit, period, draw(st.integers(0, 4)))


@st.composite
def throttle_cases(draw: st.DrawFn) -> tuple[Gcra, list[int]]:
    rule = draw(gcra_rules())
    return rule, draw(arrivals(max(1, rule.period_ms // rule.limit)))


def interval(rule: Gcra) -> Fraction:
    return Fraction(rule.period_ms, rule.limit)


def tolerance(rule: Gcra) -> Fraction:
    return (rule.limit + rule.burst - 1) * interval(rule)


def gcra_bound(rule: Gcra, window_ms: int) -> int:
    """The most conforming starts GCRA allows in any half-open window of ``window_ms``.

    The first and last of n starts are at least ``(n - 1)·interval - tolerance`` apart, and in
    a half-open window less than ``window_ms``: ``n - 1 < (window + tolerance) / interval``. That is
    ``ceil(…)``, one less than the closed-window bound ``1 + floor(…)`` when it is a whole number.
    """
    return math.ceil((window_ms + tolerance(rule)) / interval(rule))


def throttle(rule: Gcra, times: list[int]) -> list[int]:
    """Start times for arrivals ``times``, the GCRA state carried from one to the next."""
    tat: float | None = None
    starts: list[int] = []
    for now in times:
        start, tat = rule.schedule(tat, now)
        starts.append(start)
    return starts


def check_gcra_bounds(rule: Gcra, starts: list[int], extra_window_ms: int) -> None:
    """``starts`` are sorted. Every half-open window, every instant, and the long run."""
    assert starts == sorted(starts)
    for window in {rule.period_ms, max(1, rule.period_ms // rule.limit), extra_window_ms}:
        bound = gcra_bound(rule, window)
        for start in starts:
            assert count_in(starts, start, window) <= bound, (window, start)
    # A half-open window of one period: at most 2·limit + burst - 1 (limit + burst at once,
    # then one every interval); one instant: at most limit + burst.
    assert gcra_bound(rule, rule.period_ms) == 2 * rule.limit + rule.burst - 1
    for start in starts:
        assert starts.count(start) <= rule.limit + rule.burst
    # Long run: after the burst, starts are spaced by the interval.
    first = starts[0]
    for k, start in enumerate(starts):
        assert start >= first + (k - rule.limit - rule.burst + 1) * interval(rule), (k, start)


@SETTINGS
@given(throttle_cases())
def test_throttle_delays_in_order_and_never_drops(case: tuple[Gcra, list[int]]) -> None:
    rule, times = case
    starts = throttle(rule, times)
    assert len(starts) == len(times)  # delayed, never dropped
    assert starts == sorted(starts)  # FIFO
    assert all(start >= now for start, now in zip(starts, times, strict=True))


@SETTINGS
@given(throttle_cases(), st.integers(1, 3 * 86_400_000))
def test_throttle_never_exceeds_the_gcra_bound(case: tuple[Gcra, list[int]], window: int) -> None:
    rule, times = case
    check_gcra_bounds(rule, throttle(rule, times), window)


@SETTINGS
@given(throttle_cases())
def test_throttle_does_not_delay_arrivals_spaced_by_the_interval(
    case: tuple[Gcra, list[int]],
) -> None:
    rule, times = case
    step = math.ceil(interval(rule))
    spaced = [times[0] + i * step for i in range(len(times))]
    assert throttle(rule, spaced) == spaced


@SETTINGS
@given(st.lists(gcra_rules(), min_size=1, max_size=3), st.data())
def test_every_throttle_of_a_list_holds(rules: list[Gcra], data: st.DataObject) -> None:
    """``decide`` starts a run at the latest time any throttle allows, then counts that start in
    every throttle's state: each one's bound must still hold, and order is kept."""
    times = data.draw(arrivals(min(max(1, r.period_ms // r.limit) for r in rules)))
    tats: list[float | None] = [None] * len(rules)
    starts: list[int] = []
    for now in times:
        start = max(
            [now, *(rule.schedule(tat, now)[0] for rule, tat in zip(rules, tats, strict=True))]
        )
        tats = [rule.schedule(tat, start)[1] for rule, tat in zip(rules, tats, strict=True)]
        starts.append(start)
    assert all(start >= now for start, now in zip(starts, times, strict=True))
    for rule in rules:
        check_gcra_bounds(rule, starts, rule.period_ms * 2)


def test_throttle_documented_example() -> None:
    """limit 2 per 6 s, burst 1, six arrivals 0.5 s apart: three at once, then one every 3 s."""
    rule = Gcra(limit=2, period_ms=6000, burst=1)
    starts = throttle(rule, [0, 500, 1000, 1500, 2000, 2500])
    assert starts == [0, 500, 1000, 3000, 6000, 9000]
    # The bounds are tight: 4 = 2·limit + burst - 1 starts in [0, 6 s), 3 at one instant.
    assert count_in(starts, 0, 6000) == gcra_bound(rule, 6000) == 4
    assert throttle(rule, [0, 0, 0, 0]) == [0, 0, 0, 3000]
    base = EPOCH_2026_MS
    assert throttle(rule, [base + t for t in (0, 500, 1000, 1500, 2000, 2500)]) == [
        base + t for t in (0, 500, 1000, 3000, 6000, 9000)
    ]


def test_throttle_state_is_independent_of_the_starting_instant() -> None:
    rule = Gcra(limit=3, period_ms=1000)  # a fractional interval: 333.3 ms
    near_zero = throttle(rule, [0] * 10)
    assert near_zero == [0, 0, 0, 334, 667, 1000, 1334, 1667, 2000, 2334]
    assert throttle(rule, [EPOCH_2026_MS] * 10) == [EPOCH_2026_MS + t for t in near_zero]
