"""The call body's memo size, kept across an execution's calls (``MemoSize``)."""

from __future__ import annotations

import json

import pytest

from stepwell.core.memo import wrap_data, wrap_error
from stepwell.drivers.http_body import MemoSize, StateTooLarge, call_body
from stepwell.ports.driver import ExecutionRequest


def test_the_size_is_json_dumps_length_as_the_memo_grows_and_changes() -> None:
    size = MemoSize()
    memo: dict[str, object] = {}
    assert size.of(memo) == len(json.dumps(memo))
    for i in range(25):
        memo[f"step-{i}"] = wrap_data({"n": i, "text": "é" * i, "list": [1.5, None, True]})
        assert size.of(memo) == len(json.dumps(memo))
    memo["step-3"] = wrap_error({"name": "Error", "message": "replaced"})  # a new value
    assert size.of(memo) == len(json.dumps(memo))
    del memo["step-4"]  # an entry taken out
    assert size.of(memo) == len(json.dumps(memo))
    memo.clear()
    assert size.of(memo) == len(json.dumps(memo)) == 2


def request(memo: dict[str, object]) -> ExecutionRequest:
    return ExecutionRequest(
        run_id="01RUN",
        function_id="app-f",
        attempt=0,
        max_attempts=3,
        events=[{"name": "e", "data": {}}],
        memo=memo,
        url="http://127.0.0.1/api/inngest",
        item_id="01ITEM",
    )


def test_the_state_limit_holds_with_the_size_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    memo: dict[str, object] = {"a": wrap_data("x" * 100)}
    size = MemoSize()
    limit = len(json.dumps(memo)) + 10
    monkeypatch.setattr("stepwell.drivers.http_body.MAX_RUN_STATE_BYTES", limit)
    body, _ = call_body(
        request(memo),
        attempt=0,
        version=2,
        events_bytes=None,
        step_id="step",
        force_plan=False,
        memo_size=size,
    )
    assert body["steps"] == memo
    memo["b"] = wrap_data("y" * 20)  # now past the limit
    with pytest.raises(StateTooLarge):
        call_body(
            request(memo),
            attempt=0,
            version=2,
            events_bytes=None,
            step_id="step",
            force_plan=False,
            memo_size=size,
        )
