"""A result encoded once: the in-process path hands the store the JSON it already made."""

from __future__ import annotations

from typing import Any

from hypothesis import given

from stepwell.core.json_values import dumps as strict_dumps
from stepwell.core.limits import checked_step_output
from stepwell.core.memo import wrap_data, wrap_data_json
from stepwell.store.rows import dumps as store_dumps
from tests.unit.strategies import JSON


@given(JSON)
def test_the_memo_built_from_a_checked_result_is_what_the_store_would_write(value: Any) -> None:
    encoded, problem = checked_step_output("s", value)
    assert problem is None
    assert encoded == strict_dumps(value)
    assert wrap_data_json(encoded) == store_dumps(wrap_data(value))


def test_a_result_that_cannot_be_stored_has_no_json_and_says_why() -> None:
    assert checked_step_output("s", {1, 2})[0] is None
    assert "not JSON serialisable" in str(checked_step_output("s", {1, 2})[1])
    over = checked_step_output("big", "é" * (2 * 1024 * 1024 + 1))  # 2 bytes a character
    assert over[0] is None
    assert "over the limit" in str(over[1])
