"""Debounce, batching, priority and flow-config parsing under arbitrary inputs (§3.4.2).

Debounce and batching are simulated as the engine applies them (``engine/flow.py``): one pending
item per key whose due time is recomputed with ``debounce_due`` at each event, or which starts
a run as soon as ``batch_full`` says so, and fires when a controllable clock reaches its due time.
A due item fires before an event arriving at the very same millisecond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stepwell.core.expressions import compile_expression
from stepwell.core.flow import (
    DAY_MS,
    MAX_BATCH_SIZE,
    PRIORITY_CLAMP_S,
    Batch,
    Debounce,
    FlowConfig,
    FlowConfigError,
    batch_full,
    clamp_priority,
    debounce_due,
    parse_flow,
)
from stepwell.protocol.durations import to_ms, to_timedelta

SETTINGS = settings(max_examples=150, derandomize=True, database=None, deadline=None)


def duration_ms(value: Any) -> int:
    """The engine's duration parser (``engine/flow_config.py``): strings, seconds, timedeltas."""
    return to_ms(to_timedelta(value))


def parse(raw: dict[str, Any]) -> FlowConfig:
    return parse_flow(raw, where="fn", to_ms=duration_ms, compile_check=compile_expression)


def parse_or_error(raw: dict[str, Any]) -> FlowConfig | FlowConfigError:
    try:
        return parse(raw)
    except FlowConfigError as exc:
        return exc


def times_from(gaps: list[int], base: int) -> list[int]:
    times: list[int] = []
    now = base
    for gap in gaps:
        now += gap
        times.append(now)
    return times


# --- debounce --------------------------------------------------------------------------------


@st.composite
def debounce_rules(draw: st.DrawFn) -> Debounce:
    """Rules as registration produces them: period 1 s–7 d, timeout (if any) ≥ period."""
    period_s = draw(st.one_of(st.integers(1, 10), st.sampled_from([60, 3600, 7 * 86400])))
    raw: dict[str, Any] = {"period": f"{period_s}s"}
    if draw(st.booleans()):
        raw["timeout"] = f"{period_s * draw(st.integers(1, 5)) + draw(st.integers(0, 3))}s"
    if draw(st.booleans()):
        raw["events"] = True
    rule = parse({"debounce": raw}).debounce
    assert rule is not None
    return rule


@st.composite
def debounce_cases(draw: st.DrawFn) -> tuple[Debounce, list[int]]:
    rule = draw(debounce_rules())
    period = rule.period_ms
    gap = st.one_of(
        st.integers(0, 3),
        st.integers(0, period - 1),  # keeps the window open
        st.integers(period - 2, period + 2),  # right around a quiet period
        st.integers(period, 3 * period),  # quiet
    )
    base = draw(st.integers(0, 2 * 10**12))
    return rule, times_from(draw(st.lists(gap, min_size=1, max_size=40)), base)


@dataclass(slots=True)
class Fired:
    at: int
    first: int
    """Index of the window's first event."""
    last: int
    """Index of the event the run gets (the last one), or of the window's last event."""
    events: list[int]


def simulate_debounce(rule: Debounce, times: list[int]) -> list[Fired]:
    """One pending item; each event recomputes its due time; it fires when the clock gets there."""
    fired: list[Fired] = []
    pending: tuple[int, int, list[int]] | None = None  # (first index, due, event ids)
    for index, now in enumerate(times):
        if pending is not None and now >= pending[1]:
            first, due, ids = pending
            fired.append(Fired(due, first, index - 1, ids))
            pending = None
        first = index if pending is None else pending[0]
        ids = [*pending[2], index] if pending is not None and rule.all_events else [index]
        pending = (first, debounce_due(now, times[first], rule), ids)
    if pending is not None:
        first, due, ids = pending
        fired.append(Fired(due, first, len(times) - 1, ids))
    return fired


@SETTINGS
@given(debounce_cases())
def test_debounce_fires_once_per_quiet_period(case: tuple[Debounce, list[int]]) -> None:
    rule, times = case
    period, timeout = rule.period_ms, rule.timeout_ms
    fired = simulate_debounce(rule, times)
    # Every event belongs to exactly one window; windows are consecutive.
    assert [f.first for f in fired] == [0] + [f.last + 1 for f in fired[:-1]]
    assert fired[-1].last == len(times) - 1
    quiet = {i for i in range(1, len(times)) if times[i] - times[i - 1] >= period}
    boundaries = {f.first for f in fired[1:]}
    assert quiet <= boundaries  # every quiet period ends a window…
    if timeout is None:
        assert boundaries == quiet  # …and without a timeout nothing else does
        assert len(fired) == 1 + len(quiet)
    for run in fired:
        first, last = times[run.first], times[run.last]
        # It fires a period after its last event, or at the timeout after its first.
        expected = last + period if timeout is None else min(last + period, first + timeout)
        assert run.at == expected
        assert run.at > last
        if run.at < last + period:  # events kept coming: only the timeout may fire it
            assert timeout is not None
            assert run.at == first + timeout
        if timeout is not None:
            assert run.at - first <= timeout
        # Nothing arrives between its last event and its start (a same-instant one is next).
        if run.last + 1 < len(times):
            assert times[run.last + 1] >= run.at
        # The run's event is the last one before it fires; with `events`, all of the window.
        assert run.last == max(i for i, t in enumerate(times) if t < run.at)
        window = list(range(run.first, run.last + 1))
        assert run.events == (window if rule.all_events else [run.last])


@SETTINGS
@given(debounce_rules(), st.integers(0, 10**12), st.integers(0, 14 * DAY_MS))
def test_debounce_due_is_capped_and_never_in_the_past(
    rule: Debounce, first: int, since_first: int
) -> None:
    now = first + since_first
    due = debounce_due(now, first, rule)
    assert due <= now + rule.period_ms
    if rule.timeout_ms is None:
        assert due == now + rule.period_ms
    else:
        assert due <= first + rule.timeout_ms
        if now < first + rule.timeout_ms:
            assert due > now  # a window still open is never already due
    # A later event never moves the start earlier.
    assert debounce_due(now + 1, first, rule) >= due


# --- batching --------------------------------------------------------------------------------


@st.composite
def batch_rules(draw: st.DrawFn) -> Batch:
    size = draw(st.one_of(st.integers(1, 5), st.just(MAX_BATCH_SIZE)))
    timeout_s = draw(st.integers(1, 120))
    rule = parse({"batchEvents": {"maxSize": size, "timeout": f"{timeout_s}s"}}).batch
    assert rule is not None
    return rule


@st.composite
def batch_cases(draw: st.DrawFn) -> tuple[Batch, list[tuple[int, str]]]:
    rule = draw(batch_rules())
    timeout = rule.timeout_ms
    gap = st.one_of(
        st.integers(0, 2),
        st.integers(0, timeout // 3),
        st.integers(timeout - 2, timeout + 2),
        st.integers(0, 2 * timeout),
    )
    gaps = draw(st.lists(gap, min_size=1, max_size=60))
    keys = draw(st.lists(st.sampled_from("ab"), min_size=len(gaps), max_size=len(gaps)))
    times = times_from(gaps, draw(st.integers(0, 2 * 10**12)))
    return rule, list(zip(times, keys, strict=True))


@dataclass(slots=True)
class Started:
    at: int
    key: str
    events: list[int] = field(default_factory=list)


def simulate_batches(rule: Batch, arrivals: list[tuple[int, str]]) -> list[Started]:
    """One pending batch per key, due ``timeout`` after its first event; full ones start at once."""
    started: list[Started] = []
    pending: dict[str, tuple[int, list[int]]] = {}  # key -> (due, event indexes)

    def fire_due(now: int | None) -> None:
        for key, (due, ids) in sorted(pending.items(), key=lambda kv: kv[1][0]):
            if now is None or due <= now:
                started.append(Started(due, key, ids))
                del pending[key]

    for index, (now, key) in enumerate(arrivals):
        fire_due(now)
        due, ids = pending.get(key, (now + rule.timeout_ms, []))
        ids = [*ids, index]
        if batch_full(len(ids), rule):
            started.append(Started(now, key, ids))
            pending.pop(key, None)
        else:
            pending[key] = (due, ids)
    fire_due(None)
    return started


@SETTINGS
@given(batch_cases())
def test_batches_respect_max_size_and_timeout(case: tuple[Batch, list[tuple[int, str]]]) -> None:
    rule, arrivals = case
    started = simulate_batches(rule, arrivals)
    # Every event lands in exactly one batch, of its own key, in arrival order.
    assert sorted(i for batch in started for i in batch.events) == list(range(len(arrivals)))
    for key in "ab":
        ours = [i for batch in started if batch.key == key for i in batch.events]
        assert ours == [i for i, (_, k) in enumerate(arrivals) if k == key]
    for batch in started:
        assert 1 <= len(batch.events) <= rule.max_size
        assert all(arrivals[i][1] == batch.key for i in batch.events)
        first = arrivals[batch.events[0]][0]
        last = arrivals[batch.events[-1]][0]
        assert last <= batch.at <= first + rule.timeout_ms  # no event waits past the timeout
        if len(batch.events) == rule.max_size:
            assert batch.at == last  # a full batch starts when it fills
        else:
            assert batch.at == first + rule.timeout_ms  # a partial one only at its timeout
    # Runs start in time order of their decisions.
    assert [b.at for b in started] == sorted(b.at for b in started)


@SETTINGS
@given(batch_rules(), st.integers(0, 2 * MAX_BATCH_SIZE))
def test_batch_full_exactly_at_max_size(rule: Batch, size: int) -> None:
    assert batch_full(size, rule) == (size >= rule.max_size)


# --- priority --------------------------------------------------------------------------------

PRIORITY_INPUTS = st.one_of(
    st.integers(),
    st.floats(),  # includes ±inf and nan: JSON `1e999` parses to inf
    st.text(max_size=12),
    st.sampled_from(["Infinity", "-inf", "nan", "1e400", "12.9", "-12.9", " 7 "]),
    st.none(),
    st.booleans(),
)


@SETTINGS
@given(PRIORITY_INPUTS)
@example(float("inf"))
def test_priority_is_always_clamped(value: Any) -> None:
    result = clamp_priority(value)
    assert isinstance(result, int)
    assert -PRIORITY_CLAMP_S <= result <= PRIORITY_CLAMP_S


@SETTINGS
@given(st.one_of(st.integers(-(10**9), 10**9), st.floats(-1e9, 1e9)))
def test_priority_truncates_then_clamps_finite_numbers(value: float) -> None:
    expected = max(-PRIORITY_CLAMP_S, min(PRIORITY_CLAMP_S, math.trunc(value)))
    assert clamp_priority(value) == expected
    assert clamp_priority(str(value)) == expected


def test_priority_of_non_numbers_is_zero() -> None:
    assert clamp_priority("soon") == 0
    assert clamp_priority(None) == 0
    assert clamp_priority(float("nan")) == 0


# --- parsing ---------------------------------------------------------------------------------

DURATIONS = st.one_of(
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.from_regex(r"\A[0-9]{1,20}(ms|s|m|h|d|w)\Z"),
    st.sampled_from(["", "1s", "5m", "1h30m", "soon", "-1s", "1e5s"]),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
SMALL = st.one_of(
    st.integers(-2, 200), st.none(), st.booleans(), st.text(max_size=8), st.floats(-2, 200)
)
EXPRESSIONS = st.one_of(st.none(), st.sampled_from(["event.data.k", "event.data.n > 1", "((", 3]))
FLOW_RAW: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {},
    optional={
        "debounce": st.one_of(
            SMALL,
            st.fixed_dictionaries(
                {"period": DURATIONS},
                optional={"timeout": DURATIONS, "key": EXPRESSIONS, "events": st.booleans()},
            ),
        ),
        "batchEvents": st.one_of(
            SMALL,
            st.fixed_dictionaries(
                {"maxSize": SMALL, "timeout": DURATIONS},
                optional={"key": EXPRESSIONS, "if": EXPRESSIONS},
            ),
        ),
        "throttle": st.fixed_dictionaries(
            {"limit": SMALL, "period": DURATIONS}, optional={"burst": SMALL, "key": EXPRESSIONS}
        ),
        "rateLimit": st.fixed_dictionaries(
            {"limit": SMALL, "period": DURATIONS}, optional={"key": EXPRESSIONS}
        ),
        "timeouts": st.fixed_dictionaries({}, optional={"start": DURATIONS, "finish": DURATIONS}),
        "concurrency": st.one_of(
            SMALL,
            st.lists(
                st.fixed_dictionaries(
                    {"limit": SMALL},
                    optional={"key": EXPRESSIONS, "scope": st.sampled_from(["fn", "env", "x"])},
                ),
                max_size=3,
            ),
        ),
        "priority": st.one_of(SMALL, st.fixed_dictionaries({"run": EXPRESSIONS})),
    },
)


@SETTINGS
@given(FLOW_RAW)
@example({"debounce": {"period": "99999999999999999d"}})
def test_parse_flow_fails_only_with_a_config_error(raw: dict[str, Any]) -> None:
    config = parse_or_error(raw)
    if isinstance(config, FlowConfigError):
        assert str(config).startswith("fn.")  # names the field
        return
    if config.debounce is not None:
        assert 1000 <= config.debounce.period_ms <= 7 * DAY_MS
        timeout = config.debounce.timeout_ms
        assert timeout is None or timeout >= config.debounce.period_ms
    if config.batch is not None:
        assert 1 <= config.batch.max_size <= MAX_BATCH_SIZE
        assert config.batch.timeout_ms >= 1000
    for throttle in config.throttles:
        assert throttle.limit >= 1
        assert 1000 <= throttle.period_ms <= 7 * DAY_MS
        assert throttle.burst >= 0
    if config.rate_limit is not None:
        assert config.rate_limit.limit >= 1
        assert 1000 <= config.rate_limit.period_ms <= DAY_MS
    assert all(c.limit >= 1 for c in config.concurrency)
    assert len(config.concurrency) <= 2


@SETTINGS
@given(st.integers(1, 10 * 86400), st.integers(0, 10 * 86400))
def test_debounce_timeout_shorter_than_period_is_refused(period_s: int, timeout_s: int) -> None:
    raw = {"debounce": {"period": timedelta(seconds=period_s), "timeout": f"{timeout_s}s"}}
    if not 1 <= period_s <= 7 * 86400:
        with pytest.raises(FlowConfigError, match=r"^fn\.debounce\.period:"):
            parse(raw)
    elif timeout_s < period_s:
        with pytest.raises(FlowConfigError, match=r"^fn\.debounce\.timeout:"):
            parse(raw)
    else:
        assert parse(raw).debounce == Debounce(period_s * 1000, timeout_ms=timeout_s * 1000)
