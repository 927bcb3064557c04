"""One exception tree: every error ``stepwell`` exports descends from ``StepwellError``."""

from __future__ import annotations

import pytest

import stepwell


def exported_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for name in stepwell.__all__:
        value = getattr(stepwell, name)
        if isinstance(value, type) and issubclass(value, BaseException):
            found[name] = value
    return found


def test_every_exported_exception_is_a_stepwell_error() -> None:
    exceptions = exported_exceptions()
    assert len(exceptions) >= 12  # the walk found them
    outside = sorted(
        name for name, cls in exceptions.items() if not issubclass(cls, stepwell.StepwellError)
    )
    assert outside == []


def test_the_errors_of_decorators_and_triggers_are_exported_and_stay_value_errors() -> None:
    for cls in (
        stepwell.ConfigError,
        stepwell.FlowConfigError,
        stepwell.CronError,
        stepwell.ExpressionError,
        stepwell.DurationError,
        stepwell.InvalidEventError,
    ):
        assert issubclass(cls, stepwell.StepwellError)
        assert issubclass(cls, ValueError)  # callers catching ValueError keep working


def test_what_triggers_raise_is_in_the_tree() -> None:
    from stepwell.core.cron import parse_cron
    from stepwell.core.expressions import compile_expression

    caught: list[BaseException] = []
    for bad in (lambda: parse_cron("not a cron"), lambda: compile_expression("1 +")):
        try:
            bad()
        except stepwell.StepwellError as exc:
            caught.append(exc)
    assert [type(e) for e in caught] == [stepwell.CronError, stepwell.ExpressionError]


def test_a_bad_duration_given_to_the_sdk_raises_inside_the_tree() -> None:
    app = stepwell.App("durations")
    with pytest.raises(stepwell.DurationError) as caught:
        app.embedded("sqlite:///unused.db", retry_interval="soon")
    assert isinstance(caught.value, stepwell.StepwellError)


def test_what_decoration_refuses_is_a_config_error() -> None:
    app = stepwell.App("declared")

    async def once(ctx: stepwell.Context) -> None:
        return None

    app.function("once")(once)

    class Placed(stepwell.EventData, name="declared/placed"):
        n: int

    class PlacedAgain(stepwell.EventData, name="declared/placed"):
        n: str

    refusals = {
        "an empty app id": lambda: stepwell.App(""),
        "a duplicate function id": lambda: app.function("once")(once),
        "eleven triggers": lambda: app.function(
            "many", trigger=[stepwell.on_event(f"e/{i}") for i in range(11)]
        )(once),
        "one event name, two classes": lambda: app.function(
            "two", trigger=[stepwell.on_event(Placed), stepwell.on_event(PlacedAgain)]
        )(once),
        "an EventData with an empty name": _nameless_event_data,
    }
    for what, refuse in refusals.items():
        with pytest.raises(stepwell.ConfigError) as caught:
            refuse()
        assert isinstance(caught.value, ValueError), what
        assert str(caught.value), what


def _nameless_event_data() -> None:
    class Nameless(stepwell.EventData, name=" "):
        n: int
