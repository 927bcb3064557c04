"""Errors and their stored/wire form ``{"name", "message", "stack"}`` (protocol.md §5.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stepwell.core.errors import (
    NestedStepError,
    NonRetriableError,
    RetryAfterError,
    StepError,
    StepOutputError,
    StepwellError,
    error_from_exception,
    error_payload,
)


def test_hierarchy() -> None:
    for cls in (NonRetriableError, RetryAfterError, StepError):
        assert issubclass(cls, StepwellError)
    assert issubclass(NestedStepError, NonRetriableError)
    assert issubclass(StepOutputError, NonRetriableError)
    assert not issubclass(StepError, NonRetriableError)
    assert not issubclass(RetryAfterError, NonRetriableError)


def test_retry_after_seconds_timedelta_and_instant() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert RetryAfterError("slow down", 5).delay_seconds(now) == 5.0
    assert isinstance(RetryAfterError("x", 5).delay_seconds(now), float)
    assert RetryAfterError("x", 2.5).delay_seconds(now) == 2.5
    assert RetryAfterError("x", timedelta(minutes=2)).delay_seconds(now) == 120.0
    assert RetryAfterError("x", now + timedelta(seconds=90)).delay_seconds(now) == 90.0
    # An instant in the past gives a negative delay; clamping is the caller's job.
    assert RetryAfterError("x", now - timedelta(seconds=10)).delay_seconds(now) == -10.0


def test_retry_after_keeps_message_and_after() -> None:
    error = RetryAfterError("rate limited", 30)
    assert str(error) == "rate limited"
    assert error.after == 30


def test_step_error_fields_and_message() -> None:
    payload = {"name": "ValueError", "message": "broken", "stack": "trace"}
    error = StepError("charge-card", payload)
    assert error.step_id == "charge-card"
    assert error.error is payload
    assert error.error_name == "ValueError"
    assert error.error_message == "broken"
    assert str(error) == "step 'charge-card' failed: ValueError: broken"


def test_step_error_defaults() -> None:
    error = StepError("a", {})
    assert error.error_name == "Error"
    assert error.error_message == ""
    assert str(error) == "step 'a' failed: Error: "


def test_error_payload() -> None:
    assert error_payload("E", "m") == {"name": "E", "message": "m", "stack": ""}
    assert error_payload("E", "m", "s") == {"name": "E", "message": "m", "stack": "s"}


def test_error_from_raised_exception_has_stack() -> None:
    def fail() -> None:
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken") as info:
        fail()
    payload = error_from_exception(info.value)
    assert payload["name"] == "ValueError"
    assert payload["message"] == "broken"
    assert payload["stack"].startswith("Traceback")
    assert "in fail" in payload["stack"]
    assert payload["stack"].rstrip().endswith("ValueError: broken")
    assert set(payload) == {"name", "message", "stack"}


def test_error_from_unraised_exception() -> None:
    payload = error_from_exception(NonRetriableError("stop"))
    assert payload == {"name": "NonRetriableError", "message": "stop", "stack": payload["stack"]}
    assert payload["stack"].strip() == "stepwell.core.errors.NonRetriableError: stop"
