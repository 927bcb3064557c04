"""Memo formats (protocol.md §5.4) and how the SDKs read them back."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from stepwell.core.memo import INVOKE_TIMEOUT_ERROR, MemoValue, decode_memo, wrap_data, wrap_error
from tests.unit.strategies import JSON


def test_wrap_data_and_error() -> None:
    assert wrap_data({"x": 1}) == {"data": {"x": 1}}
    assert wrap_data(None) == {"data": None}
    error = {"name": "ValueError", "message": "broken", "stack": "…"}
    assert wrap_error(error) == {"error": error}


@given(JSON)
def test_wrapped_data_decodes_to_the_value(value: Any) -> None:
    decoded = decode_memo(wrap_data(value))
    assert decoded == MemoValue(value=value)
    assert not decoded.failed


def test_lone_data_key_is_unwrapped() -> None:
    assert decode_memo({"data": [1, 2]}).value == [1, 2]
    assert decode_memo({"data": {"data": 1}}).value == {"data": 1}
    # A step that returned None is stored {"data": null} and reads back as None.
    assert decode_memo({"data": None}) == MemoValue(value=None, error=None)


def test_lone_error_key_is_an_error() -> None:
    error = {"name": "ValueError", "message": "broken", "stack": "trace", "code": "step_errored"}
    decoded = decode_memo(wrap_error(error))
    assert decoded.failed
    assert decoded.value is None
    assert decoded.error == error


@pytest.mark.parametrize(
    ("stored_error", "name", "message"),
    [
        ({}, "Error", "Unknown error"),
        ({"name": "", "message": ""}, "Error", "Unknown error"),
        ({"message": "boom"}, "Error", "boom"),
        ({"name": "TypeError"}, "TypeError", "Unknown error"),
        # TS default: message || error || "Unknown error".
        ({"error": "legacy text"}, "Error", "legacy text"),
        ({"name": 3, "message": 4}, "3", "4"),
    ],
)
def test_error_name_and_message_defaults(
    stored_error: dict[str, Any], name: str, message: str
) -> None:
    decoded = decode_memo({"error": stored_error})
    assert decoded.error is not None
    assert decoded.error["name"] == name
    assert decoded.error["message"] == message


def test_error_keeps_extra_fields() -> None:
    decoded = decode_memo({"error": {"message": "m", "stack": "s", "cause": {"x": 1}}})
    assert decoded.error == {"name": "Error", "message": "m", "stack": "s", "cause": {"x": 1}}


def test_error_wins_over_data_when_both_are_present() -> None:
    decoded = decode_memo({"data": 1, "error": {"name": "E", "message": "m"}})
    assert decoded.failed
    assert decoded.error == {"name": "E", "message": "m"}


def test_null_error_with_data_is_the_data() -> None:
    assert decode_memo({"data": 5, "error": None}) == MemoValue(value=5)


def test_event_object_is_the_value_itself() -> None:
    event = {"name": "test/resume", "data": {"id": 1}, "user": {}, "id": "01J", "ts": 1}
    assert decode_memo(event) == MemoValue(value=event)


@pytest.mark.parametrize(
    "stored",
    [None, {}, {"data": 1, "extra": 2}, {"error": "just a string"}, [{"data": 1}], "data", 0],
)
def test_anything_else_is_the_whole_value(stored: Any) -> None:
    # Sleep and wait-for-event timeouts store null; other shapes are not wrapped memos.
    decoded = decode_memo(stored)
    assert decoded == MemoValue(value=stored)
    assert not decoded.failed


def test_memo_value_defaults() -> None:
    assert MemoValue() == MemoValue(value=None, error=None)
    assert not MemoValue().failed
    assert MemoValue(error={"name": "E", "message": ""}).failed


def test_invoke_timeout_error_matches_protocol() -> None:
    assert INVOKE_TIMEOUT_ERROR == {
        "error": {
            "error": (
                "InngestInvokeTimeoutError: Timed out waiting for invoked function to complete"
            ),
            "name": "InngestInvokeTimeoutError",
            "message": "Timed out waiting for invoked function to complete",
        }
    }
    decoded = decode_memo(INVOKE_TIMEOUT_ERROR)
    assert decoded.error is not None
    assert decoded.error["name"] == "InngestInvokeTimeoutError"
