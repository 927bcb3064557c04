"""Durations and instants (protocol.md §5.3 Sleep): Go-style strings plus days and weeks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepwell.protocol.durations import (
    DurationError,
    format_duration,
    format_instant,
    instant_from_ms,
    largest_unit_duration,
    ms_from_instant,
    parse_duration,
    parse_instant,
    sleep_target_ms,
    to_timedelta,
    whole_second_instant_from_ms,
)

NOW_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2s", timedelta(seconds=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("500ms", timedelta(milliseconds=500)),
        ("1.5d", timedelta(days=1, hours=12)),
        ("1w", timedelta(weeks=1)),
        ("90s", timedelta(seconds=90)),
        ("1h0m0s", timedelta(hours=1)),
        ("2m30s250ms", timedelta(minutes=2, seconds=30, milliseconds=250)),
        ("250us", timedelta(microseconds=250)),
        ("7µs", timedelta(microseconds=7)),  # MICRO SIGN
        ("7μs", timedelta(microseconds=7)),  # GREEK SMALL LETTER MU
        ("0s", timedelta(0)),
        ("  2s  ", timedelta(seconds=2)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["5", "5x", "s", "1h 30m", "1.5.5s", "abc", "2S", "1.s", ".5s", "-1s", "2s!"]
)
def test_bad_duration_has_helpful_message(text: str) -> None:
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    message = str(info.value)
    assert repr(text) in message
    assert "30s" in message
    assert "1h30m" in message
    assert "units: ns, us, ms, s, m, h, d, w" in message


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_duration_is_rejected(text: str) -> None:
    with pytest.raises(DurationError, match="empty duration"):
        parse_duration(text)


def test_duration_error_is_a_value_error() -> None:
    assert issubclass(DurationError, ValueError)


def test_to_timedelta_accepts_timedelta_string_and_seconds() -> None:
    delta = timedelta(minutes=3)
    assert to_timedelta(delta) is delta
    assert to_timedelta("1h30m") == timedelta(minutes=90)
    assert to_timedelta(5) == timedelta(seconds=5)
    assert to_timedelta(0.25) == timedelta(milliseconds=250)


@pytest.mark.parametrize("value", [True, None, [1], b"2s"])
def test_to_timedelta_rejects_other_types(value: Any) -> None:
    with pytest.raises(DurationError, match="expected a timedelta"):
        to_timedelta(value)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=2), "2s"),
        (timedelta(seconds=90), "90s"),
        (timedelta(days=1), "86400s"),
        (timedelta(milliseconds=1500), "1500ms"),
        (timedelta(milliseconds=1), "1ms"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration(delta: timedelta, expected: str) -> None:
    assert format_duration(delta) == expected


@given(st.integers(min_value=0, max_value=400 * 24 * 3600 * 1000))
def test_format_duration_round_trips_whole_milliseconds(ms: int) -> None:
    delta = timedelta(milliseconds=ms)
    assert parse_duration(format_duration(delta)) == delta


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
def test_format_duration_is_always_parseable_to_the_nearest_ms(delta: timedelta) -> None:
    parsed = parse_duration(format_duration(delta))
    assert abs(parsed - delta) <= timedelta(microseconds=500)


def test_format_duration_of_negative_timedelta_is_parseable() -> None:
    assert parse_duration(format_duration(timedelta(seconds=-1))) <= timedelta(0)


def test_parse_instant_with_z_and_offsets() -> None:
    assert parse_instant("2026-01-02T03:04:05.678Z") == datetime(
        2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC
    )
    assert parse_instant("2026-01-02T05:04:05+02:00") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    naive = parse_instant("2026-01-02T03:04:05")
    assert naive.tzinfo is UTC
    assert naive == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("text", ["tomorrow", "2026-13-01T00:00:00Z", "", "2s"])
def test_parse_instant_rejects_non_iso(text: str) -> None:
    with pytest.raises(DurationError, match="ISO-8601"):
        parse_instant(text)


def test_format_instant_uses_milliseconds_and_z() -> None:
    assert format_instant(datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)) == (
        "2026-01-02T03:04:05.678Z"
    )
    assert format_instant(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02T03:04:05.000Z"
    # A naive datetime is taken as UTC; an aware one is converted to UTC.
    assert format_instant(datetime(2026, 1, 2, 3, 4, 5, 7000)) == "2026-01-02T03:04:05.007Z"
    plus_two = timezone(timedelta(hours=2))
    assert format_instant(datetime(2026, 1, 2, 1, 0, 0, tzinfo=plus_two)) == (
        "2026-01-01T23:00:00.000Z"
    )


@given(
    st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC),
    )
)
def test_format_instant_round_trips_to_the_millisecond(moment: datetime) -> None:
    truncated = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert parse_instant(format_instant(moment)) == truncated


# 1900-2200: wider than the instants events may carry (1980-2100).
instant_ms = st.integers(min_value=-2_208_988_800_000, max_value=7_258_118_400_000)


@given(instant_ms)
def test_milliseconds_round_trip_through_an_instant(ms: int) -> None:
    text = instant_from_ms(ms)
    assert ms_from_instant(text) == ms
    assert text == format_instant(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms))


def test_milliseconds_that_float_seconds_would_lose() -> None:
    # (parsed.timestamp() * 1000) is 547641621914.99994 here: truncated, it is a millisecond short.
    assert ms_from_instant("1987-05-10T10:40:21.915Z") == 547_641_621_915
    assert instant_from_ms(547_641_621_915) == "1987-05-10T10:40:21.915Z"


def test_ms_from_instant_reads_offsets_and_naive_instants() -> None:
    assert ms_from_instant("2026-01-01T02:00:00+02:00") == NOW_MS
    assert ms_from_instant("2026-01-01T00:00:00") == NOW_MS
    with pytest.raises(DurationError):
        ms_from_instant("tomorrow")


@given(instant_ms)
def test_whole_second_instants_truncate_the_milliseconds(ms: int) -> None:
    text = whole_second_instant_from_ms(ms)
    assert text.endswith("Z")
    assert len(text) == len("2026-01-01T00:00:00Z")
    assert ms_from_instant(text) == ms // 1000 * 1000


def test_whole_second_instant_as_cron_ticks_are_named() -> None:
    assert whole_second_instant_from_ms(NOW_MS + 60_999) == "2026-01-01T00:01:00Z"


def test_sleep_target_with_iso_date() -> None:
    wake = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    expected = NOW_MS + (wake - datetime(2026, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert sleep_target_ms("2026-01-02T03:04:05.678Z", NOW_MS) == expected
    # A date alone (exactly 10 characters) is midnight UTC.
    assert sleep_target_ms("2026-01-03", NOW_MS) == NOW_MS + 2 * 86_400_000


def test_sleep_target_in_the_past_is_now() -> None:
    assert sleep_target_ms("2020-01-01T00:00:00.000Z", NOW_MS) == NOW_MS


@pytest.mark.parametrize(
    ("name", "delay_ms"),
    [
        ("2s", 2_000),
        ("500ms", 500),
        ("1h30m", 5_400_000),
        ("1.5d", 129_600_000),
        ("1w", 604_800_000),
        # Ten characters or more but not a date: still a duration.
        ("1h30m15s500ms", 5_415_500),
        ("1000000000s", 1_000_000_000_000),
    ],
)
def test_sleep_target_with_duration(name: str, delay_ms: int) -> None:
    assert sleep_target_ms(name, NOW_MS) == NOW_MS + delay_ms


@given(st.integers(min_value=0, max_value=366 * 86_400))
def test_sleep_target_with_whole_seconds(seconds: int) -> None:
    assert sleep_target_ms(f"{seconds}s", NOW_MS) == NOW_MS + seconds * 1000


@pytest.mark.parametrize(
    ("name", "delay_ms"), [("1001ms", 1001), ("1.001s", 1001), ("1007ms", 1007)]
)
def test_sleep_target_keeps_every_millisecond(name: str, delay_ms: int) -> None:
    assert sleep_target_ms(name, NOW_MS) == NOW_MS + delay_ms


def test_an_empty_sleep_is_no_wait() -> None:
    # The TypeScript SDK reports step.sleep(id, 0) with an empty duration.
    assert sleep_target_ms("", NOW_MS) == NOW_MS
    assert sleep_target_ms("  ", NOW_MS) == NOW_MS


@pytest.mark.parametrize("name", ["soon", "2026-99-99T00:00:00Z"])
def test_sleep_target_rejects_garbage(name: str) -> None:
    with pytest.raises(DurationError):
        sleep_target_ms(name, NOW_MS)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "0ms"),
        (500, "500ms"),
        (1500, "1500ms"),
        (90_000, "90s"),
        (120_000, "2m"),
        (7_200_000, "2h"),
        (86_400_000, "1d"),
        (1_209_600_000, "2w"),
    ],
)
def test_largest_unit_duration(ms: int, text: str) -> None:
    assert largest_unit_duration(ms) == text


@given(st.integers(min_value=0, max_value=10 * 366 * 86_400_000))
def test_largest_unit_duration_reads_back(ms: int) -> None:
    assert parse_duration(largest_unit_duration(ms)) == timedelta(milliseconds=ms)
