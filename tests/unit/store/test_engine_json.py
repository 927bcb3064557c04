"""``rows.dumps_engine``: the writer's fast JSON for what the engine built writes what
``rows.dumps`` writes, and hands orjson's refusals to it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stepwell.store.rows import dumps, dumps_engine
from tests.unit.strategies import JSON

FINITE = st.floats(allow_nan=False, allow_infinity=False)
WITH_FLOATS = st.recursive(
    JSON | FINITE, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner)
)


@given(WITH_FLOATS)
def test_a_value_reads_back_the_same_whichever_encodes_it(value: Any) -> None:
    assert json.loads(dumps_engine(value)) == json.loads(dumps(value))


def test_what_orjson_refuses_is_written_as_dumps_writes_it() -> None:
    for value in ({1: "a"}, {"n": 2**70}, [-(2**64)]):
        assert dumps_engine(value) == dumps(value)


def test_the_text_is_compact_and_keeps_non_ascii() -> None:
    assert dumps_engine({"span": {"name": "étape", "ids": [1, None]}}) == (
        '{"span":{"name":"étape","ids":[1,null]}}'
    )
