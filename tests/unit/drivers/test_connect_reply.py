"""Reading a Connect worker's reply (``SDKResponse``) as the HTTP answer it stands for."""

from __future__ import annotations

import json

from stepwell.drivers.connect.driver import reply_response
from stepwell.ports.driver import Completed, Errored
from stepwell.protocol.connect_wire import Reply, ReplyStatus

ERROR = {"name": "NonRetriableError", "message": "refused for good", "__serialized": True}


def reply(status: ReplyStatus, body: object, *, no_retry: bool = False) -> Reply:
    return Reply("r1", status, json.dumps(body).encode(), no_retry, "", "inngest-js:v4.24.0", 2)


def test_done_is_the_return_value() -> None:
    assert reply_response(reply(ReplyStatus.DONE, {"ok": 1})).outcome == Completed({"ok": 1})


def test_done_with_no_retry_is_a_non_retriable_error() -> None:
    # The TS SDK's 400 (NonRetriableError): DONE, since only 200 and 206 have statuses.
    outcome = reply_response(reply(ReplyStatus.DONE, ERROR, no_retry=True)).outcome
    assert isinstance(outcome, Errored), outcome
    assert not outcome.retriable
    assert outcome.error["message"] == "refused for good"


def test_error_is_retried_unless_no_retry() -> None:
    retried = reply_response(reply(ReplyStatus.ERROR, ERROR)).outcome
    final = reply_response(reply(ReplyStatus.ERROR, ERROR, no_retry=True)).outcome
    assert isinstance(retried, Errored)
    assert retried.retriable
    assert isinstance(final, Errored)
    assert not final.retriable


def test_not_completed_carries_the_ops() -> None:
    step = {"op": "StepRun", "id": "98bf98df", "name": "a", "data": 1}
    response = reply_response(reply(ReplyStatus.NOT_COMPLETED, [step]))
    assert [op.id for op in response.ops] == ["98bf98df"]
