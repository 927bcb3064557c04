"""Typed flow settings read exactly as the dicts they stand for, and are refused alike."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import stepwell
from stepwell import Context
from stepwell.engine.registry import FunctionSpec


class OrderCancelled(stepwell.EventData, name="shop/order.cancelled"):
    order_id: int


async def handler(ctx: Context) -> None:
    return None


def spec_of(**settings: Any) -> FunctionSpec:
    app = stepwell.App("flow-types")
    fn = app.function("fn", trigger=stepwell.on_event("shop/x"), **settings)(handler)
    return fn.spec


# (keyword, typed form, dict form)
SAME: list[tuple[str, Any, Any]] = [
    ("concurrency", stepwell.Concurrency(limit=5), {"limit": 5}),
    (
        "concurrency",
        stepwell.Concurrency(limit=5, key="event.data.order_id"),
        {"limit": 5, "key": "event.data.order_id"},
    ),
    (
        "concurrency",
        [
            stepwell.Concurrency(limit=2, key="event.data.t", scope="env"),
            stepwell.Concurrency(limit=9),
        ],
        [{"limit": 2, "key": "event.data.t", "scope": "env"}, {"limit": 9}],
    ),
    (
        "throttle",
        stepwell.Throttle(limit=100, period=timedelta(seconds=1)),
        {"limit": 100, "period": "1s"},
    ),
    (
        "throttle",
        [stepwell.Throttle(limit=1, period="5s", burst=2, key="event.data.k")],
        [{"limit": 1, "period": "5s", "burst": 2, "key": "event.data.k"}],
    ),
    (
        "rate_limit",
        stepwell.RateLimit(limit=1, period="1h", key="event.data.u"),
        {"limit": 1, "period": "1h", "key": "event.data.u"},
    ),
    (
        "debounce",
        stepwell.Debounce(period="5s", key="event.data.u", timeout="1m", all_events=True),
        {"period": "5s", "key": "event.data.u", "timeout": "1m", "events": True},
    ),
    (
        "batch_events",
        stepwell.Batch(max_size=10, timeout="5s", key="event.data.u", if_="event.data.ok"),
        {"max_size": 10, "timeout": "5s", "key": "event.data.u", "if": "event.data.ok"},
    ),
    (
        "priority",
        stepwell.Priority(run="event.data.vip ? 60 : 0"),
        {"run": "event.data.vip ? 60 : 0"},
    ),
    (
        "singleton",
        stepwell.Singleton(mode="skip", key="event.data.u"),
        {"mode": "skip", "key": "event.data.u"},
    ),
    ("timeouts", stepwell.Timeouts(start="10s", finish="1m"), {"start": "10s", "finish": "1m"}),
    ("timeouts", stepwell.Timeouts(finish=60), {"finish": "1m"}),
    (
        "cancel_on",
        [stepwell.Cancel(event=OrderCancelled, match="data.order_id", timeout="1h")],
        [{"event": "shop/order.cancelled", "match": "data.order_id", "timeout": "1h"}],
    ),
    (
        "cancel_on",
        [stepwell.Cancel(event="shop/x.stop", if_="async.data.id == event.data.id")],
        [{"event": "shop/x.stop", "if": "async.data.id == event.data.id"}],
    ),
]


@pytest.mark.parametrize(("keyword", "typed", "raw"), SAME)
def test_a_typed_setting_reads_as_its_dict(keyword: str, typed: Any, raw: Any) -> None:
    from_typed, from_dict = spec_of(**{keyword: typed}), spec_of(**{keyword: raw})
    assert from_typed.flow == from_dict.flow
    assert from_typed.cancel_on == from_dict.cancel_on
    assert from_typed.flow != spec_of().flow or from_typed.cancel_on  # the setting took


def test_the_issue_s_settings_together() -> None:
    spec = spec_of(
        concurrency=stepwell.Concurrency(limit=5, key="event.data.order_id"),
        throttle=stepwell.Throttle(limit=100, period=timedelta(seconds=1)),
    )
    assert spec.flow.concurrency[0].limit == 5
    assert spec.flow.throttles[0].period_ms == 1000


def test_the_settings_are_frozen() -> None:
    setting = stepwell.Concurrency(limit=5)
    with pytest.raises(AttributeError):
        setting.limit = 6  # type: ignore[misc]


# (keyword, a bad typed value, the field its error names)
BAD: list[tuple[str, Any, str]] = [
    ("concurrency", stepwell.Concurrency(limit=-1), "concurrency.limit"),
    ("concurrency", stepwell.Concurrency(limit=2, scope="galaxy"), "concurrency.scope"),
    ("concurrency", stepwell.Concurrency(limit=2, key="event.data.("), "concurrency.key"),
    ("throttle", stepwell.Throttle(limit=1, period="soon"), "throttle.period"),
    ("throttle", [stepwell.Throttle(limit=0, period="1s")], "throttle[0].limit"),
    ("throttle", stepwell.Throttle(limit=1, period="1s", burst=-2), "throttle.burst"),
    ("rate_limit", stepwell.RateLimit(limit=1, period="30d"), "rateLimit.period"),
    ("debounce", stepwell.Debounce(period="5s", timeout="1s"), "debounce.timeout"),
    ("batch_events", stepwell.Batch(max_size=1000, timeout="5s"), "batchEvents.maxSize"),
    ("priority", stepwell.Priority(run="1 +"), "priority.run"),
    ("singleton", stepwell.Singleton(mode="queue"), "singleton.mode"),
    ("timeouts", stepwell.Timeouts(start="later"), "timeouts.start"),
    ("cancel_on", [stepwell.Cancel(event="x", timeout="never")], "cancel_on[0].timeout"),
    ("cancel_on", [stepwell.Cancel(event="x", match="a", if_="b")], "cancel_on[0]"),
]


@pytest.mark.parametrize(("keyword", "bad", "field"), BAD)
def test_a_bad_setting_is_refused_at_decoration_naming_the_field(
    keyword: str, bad: Any, field: str
) -> None:
    app = stepwell.App("flow-types")
    with pytest.raises(stepwell.FlowConfigError) as caught:
        app.function("fn", **{keyword: bad})  # refused before any handler is given
    assert str(caught.value).startswith(f"function 'fn'.{field}")
    assert isinstance(caught.value, stepwell.StepwellError)
    assert isinstance(caught.value, ValueError)
    assert app.functions == {}


def test_the_sdk_s_duration_error_is_both_kinds() -> None:
    from stepwell.protocol import durations
    from stepwell.sdk.flow_types import to_timedelta

    with pytest.raises(stepwell.DurationError) as caught:
        to_timedelta("soon")
    assert isinstance(caught.value, durations.DurationError)
    assert isinstance(caught.value, stepwell.StepwellError)
    assert to_timedelta("1m30s") == timedelta(seconds=90)
