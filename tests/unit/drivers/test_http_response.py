"""Reading an SDK's answer to a call (protocol.md §5.2, §5.10): ``classify_response`` and
``parse_retry_after``, with no HTTP at all."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stepwell.drivers.http_response import SdkResponse, classify_response, parse_retry_after
from stepwell.ports.driver import Completed, Errored
from stepwell.protocol.ops import Opcode

SDK = {"X-Inngest-SDK": "inngest-py:v0.5.19"}
STEP_RUN = {"op": "StepRun", "id": "98bf98df", "name": "first step", "data": "one"}


def classify(status: int, body: Any = None, **headers: str) -> SdkResponse:
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return classify_response(status, {**SDK, **headers}, raw)


def errored(response: SdkResponse) -> Errored:
    assert isinstance(response.outcome, Errored), response
    return response.outcome


# -- 200: the function returned ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["AB", [1, 2], {"ok": True}, 0, None])
def test_200_is_the_raw_return_value(value: Any) -> None:
    response = classify(200, value)
    assert response.outcome == Completed(value)
    assert response.ops == []


def test_200_with_an_empty_body_returned_nothing() -> None:
    assert classify(200, b"").outcome == Completed(None)
    assert classify(200, b"  \n").outcome == Completed(None)


def test_the_sdk_header_is_found_whatever_its_case() -> None:
    response = classify_response(200, {"x-inngest-sdk": "inngest-js:v4.24.0"}, b'"ok"')
    assert response.outcome == Completed("ok")


@pytest.mark.parametrize(("header", "version"), [("2", 2), ("1", 1), ("-1", -1)])
def test_the_request_version_is_read_from_its_header(header: str, version: int) -> None:
    assert classify(200, "x", **{"X-Inngest-Req-Version": header}).version == version


@pytest.mark.parametrize("header", ["", "two", "1.5", "123456", "٣", "²", "--1", "-", "+2"])
def test_an_unreadable_request_version_is_none(header: str) -> None:
    assert classify(200, "x", **{"X-Inngest-Req-Version": header}).version is None


# -- 206: ops ---------------------------------------------------------------------------------


def test_206_carries_ops() -> None:
    planned = {"op": "StepPlanned", "id": "e9d7", "name": "b", "opts": None}
    response = classify(206, [STEP_RUN, planned], **{"X-Inngest-Req-Version": "2"})
    assert response.outcome is None
    assert [(op.op, op.id, op.name) for op in response.ops] == [
        (Opcode.STEP_RUN, "98bf98df", "first step"),
        (Opcode.STEP_PLANNED, "e9d7", "b"),
    ]
    assert response.ops[0].data == "one"
    assert (response.version, response.no_retry, response.retry_after_s) == (2, False, None)


def test_206_with_a_single_op_object_is_a_list_of_one() -> None:
    [op] = classify(206, STEP_RUN).ops
    assert op.op is Opcode.STEP_RUN


def test_206_with_no_ops() -> None:
    assert classify(206, []).ops == []
    assert classify(206, b"").ops == []


def test_op_names_are_matched_case_insensitively() -> None:
    [op] = classify(206, [{"op": "aigateway", "id": "x"}]).ops
    assert op.op is Opcode.AI_GATEWAY


def test_206_keeps_what_its_headers_say_about_retrying() -> None:
    error = {"op": "StepError", "id": "x", "error": {"name": "E", "message": "m"}}
    response = classify(206, [error], **{"X-Inngest-No-Retry": "true", "Retry-After": "30"})
    assert (response.no_retry, response.retry_after_s) == (True, 30.0)
    assert classify(206, [error], **{"X-Inngest-No-Retry": "false"}).no_retry is False


@pytest.mark.parametrize(
    ("op", "reason"),
    [
        ({"id": "x"}, "op: expected an opcode name"),
        ({"op": 5, "id": "x"}, "op: expected an opcode name"),
        ({"op": "Teleport", "id": "x"}, "unknown opcode 'Teleport'"),
        ({"op": "StepRun", "id": 7}, "id: expected a string, got int"),
        ({"op": "StepRun", "id": "x", "name": ["a"]}, "name: expected a string, got list"),
        ({"op": "StepRun", "id": "x", "opts": "fast"}, "opts: expected an object, got str"),
        ({"op": "StepError", "id": "x", "error": 3}, "error: expected an object, got int"),
    ],
)
def test_a_bad_op_fails_for_good_naming_the_field(op: dict[str, Any], reason: str) -> None:
    outcome = errored(classify(206, [STEP_RUN, op]))
    assert outcome.retriable is False
    assert outcome.error["name"] == "InvalidResponseError"
    assert reason in outcome.error["message"]


def test_ops_that_are_not_objects_are_skipped() -> None:
    assert [op.op for op in classify(206, [1, "x", None, STEP_RUN]).ops] == [Opcode.STEP_RUN]


# -- strict JSON in results -------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 206])
@pytest.mark.parametrize(
    "body",
    [b"NaN", b'{"total": NaN}', b"[Infinity]", b"-Infinity", b"1e400", b'"\\ud800"', b"{not json"],
)
def test_a_result_that_is_not_strict_json_fails_for_good(status: int, body: bytes) -> None:
    outcome = errored(classify(status, body))
    assert outcome.retriable is False
    assert outcome.error["name"] == "InvalidResponseError"
    assert outcome.error["message"].startswith("the app's answer is not usable: ")


def test_an_error_body_may_be_anything() -> None:
    outcome = errored(classify(500, b"{broken: NaN}"))
    assert outcome.retriable is True
    assert outcome.error["name"] == "Error"
    assert outcome.error["message"] == "the app answered 500: {broken: NaN}"


# -- errors -----------------------------------------------------------------------------------


def test_500_is_a_retriable_error_with_the_sdks_error_body() -> None:
    body = {"code": "unknown", "name": "ValueError", "message": "boom", "stack": "Traceback"}
    response = classify(500, body, **{"X-Inngest-Req-Version": "2"})
    outcome = errored(response)
    assert outcome.retriable is True
    assert outcome.error == body
    assert outcome.retry_after_s is None
    assert response.version == 2


def test_the_no_retry_header_wins_over_the_status() -> None:
    # The Python SDK answers 500 + no-retry for a NonRetriableError, TS 400 + no-retry.
    assert (
        errored(classify(500, {"message": "m"}, **{"X-Inngest-No-Retry": "true"})).retriable
        is False
    )
    assert (
        errored(classify(400, {"message": "m"}, **{"X-Inngest-No-Retry": "true"})).retriable
        is False
    )
    assert errored(classify(500, {"message": "m"}, **{"X-Inngest-No-Retry": "false"})).retriable
    assert errored(classify(400, {"message": "m"})).retriable is True


def test_an_error_body_gets_a_name_and_a_message() -> None:
    assert errored(classify(500, {"message": "m"})).error == {"message": "m", "name": "Error"}
    assert errored(classify(500, {"error": "Could not find step"})).error == {
        "error": "Could not find step",
        "name": "Error",
        "message": "Could not find step",
    }


@pytest.mark.parametrize(
    ("body", "text"),
    [
        (b"", "null"),
        (b"Internal Server Error", "Internal Server Error"),
        (b"[1, 2]", "[1, 2]"),
        (b'{"detail": "nope"}', '{"detail": "nope"}'),
    ],
)
def test_an_error_body_without_an_error_says_what_the_app_answered(body: bytes, text: str) -> None:
    error = errored(classify(502, body)).error
    assert (error["name"], error["message"]) == ("Error", f"the app answered 502: {text}")


def test_an_error_keeps_the_retry_after_it_asked_for() -> None:
    assert errored(classify(500, {"message": "m"}, **{"Retry-After": "45"})).retry_after_s == 45.0


def test_an_error_message_is_cut_at_two_thousand_characters() -> None:
    message = errored(classify(500, ("x" * 5000).encode())).error["message"]
    assert message == "the app answered 500: " + "x" * 2000


# -- not an SDK at all ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 206, 401, 404, 500, 502])
def test_an_answer_without_sdk_headers_is_a_retriable_transport_failure(status: int) -> None:
    response = classify_response(status, {"Content-Type": "text/html"}, b"<h1>Bad Gateway</h1>")
    outcome = errored(response)
    assert outcome.retriable is True
    assert outcome.error["message"] == (
        f"the app answered {status} without SDK headers: <h1>Bad Gateway</h1>"
    )
    assert response.ops == []


def test_without_sdk_headers_only_the_start_of_the_body_is_kept() -> None:
    outcome = errored(classify_response(500, {}, b"y" * 2000 + b"\xff"))
    assert outcome.error["message"].endswith(": " + "y" * 500)


# -- 201: streamed answers --------------------------------------------------------------------


def streamed(status: int, body: Any, headers: dict[str, str] | None = None) -> bytes:
    envelope = {"status": status, "headers": headers or {}, "body": body}
    return b"   " + b" " * 3 + json.dumps(envelope).encode()


def test_a_streamed_answer_is_read_as_the_status_it_carries() -> None:
    # The body is a JSON string holding JSON, as both SDKs write it.
    body = streamed(206, json.dumps([STEP_RUN]), {"X-Inngest-Req-Version": "2"})
    response = classify(201, body)
    assert [op.op for op in response.ops] == [Opcode.STEP_RUN]
    assert response.version == 2


def test_a_streamed_result_may_be_json_itself() -> None:
    assert classify(201, streamed(200, {"total": 3})).outcome == Completed({"total": 3})


def test_a_streamed_error_obeys_its_own_headers() -> None:
    body = streamed(500, json.dumps({"message": "m"}), {"X-Inngest-No-Retry": "true"})
    assert errored(classify(201, body)).retriable is False


def test_a_streamed_result_must_be_strict_json_too() -> None:
    assert errored(classify(201, streamed(200, "NaN"))).retriable is False


@pytest.mark.parametrize("body", [b"   ", b"  [1]", b" {oops", b'{"status": "soon"}', b"NaN"])
def test_an_unreadable_stream_is_a_retriable_error(body: bytes) -> None:
    outcome = errored(classify(201, body))
    assert outcome.retriable is True
    assert outcome.error["message"] == "unreadable streamed response from the app"


def test_a_201_without_sdk_headers_is_not_unwrapped() -> None:
    outcome = errored(classify_response(201, {}, streamed(200, "x")))
    assert outcome.retriable is True
    assert "without SDK headers" in outcome.error["message"]


# -- Retry-After ------------------------------------------------------------------------------

NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),
        (" 30 ", 30.0),
        ("0", 1.0),  # clamped to at least a second
        ("1", 1.0),
        ("9999999", 86400.0),  # seven digits: seconds, clamped to a day
        ("2025-01-01T12:00:30.000Z", 30.0),  # the Python SDK's ISO form
        ("2025-01-01T12:00:30+00:00", 30.0),
        ("2025-01-01T12:00:30", 30.0),  # naive: UTC
        ("Wed, 01 Jan 2025 12:02:00 GMT", 120.0),  # RFC 1123
        ("Wed, 01 Jan 2025 12:02:00 -0000", 120.0),  # RFC 1123, zone unknown: UTC
        ("2024-12-31T00:00:00Z", 1.0),  # in the past: as soon as allowed
        ("2026-01-01T00:00:00Z", 86400.0),  # too far ahead: a day
    ],
)
def test_retry_after_is_seconds_or_a_date_clamped(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "soon", "12345678", "-5", "1.5", "3e3", "٣٠", "²", "Wed, 99 Foo", "+9999"],
)
def test_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_retry_after_defaults_to_the_current_time() -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    after = parse_retry_after(later)
    assert after is not None
    assert 3590 < after <= 3600
