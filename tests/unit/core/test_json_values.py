"""Strict JSON: the fast path (orjson) and the careful one (json with hooks) agree exactly."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepwell.core import json_values
from stepwell.core.json_values import JsonValueError, dumps, loads

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_trees = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def careful(raw: bytes | str) -> Any:
    return json_values._careful_loads(raw, max_depth=json_values.MAX_DEPTH)


@settings(max_examples=300)
@given(json_trees)
def test_both_paths_read_valid_json_alike(value: Any) -> None:
    text = json.dumps(value, ensure_ascii=False)
    assert loads(text) == careful(text)
    assert loads(text.encode()) == careful(text.encode())


@pytest.mark.parametrize(
    "raw",
    [
        b"NaN",
        b"[Infinity]",
        b"-Infinity",
        b"1e400",
        b'"\\ud800"',
        b'"\\udc00"',
        b'{"a": "\\ud800x"}',
        b'"\xff"',
        b"18446744073709551616",
        b"-9223372036854775809",
        b"123456789012345678901234",
        b"[1, 2",
        b"",
        b"[" * 129 + b"]" * 129,
    ],
)
def test_both_paths_refuse_the_same_input_with_the_same_message(raw: bytes) -> None:
    with pytest.raises(JsonValueError) as fast:
        loads(raw)
    with pytest.raises(JsonValueError) as slow:
        careful(raw)
    assert str(fast.value) == str(slow.value)


def test_integers_at_the_64_bit_edges_stay_integers() -> None:
    assert loads(b"[18446744073709551615, -9223372036854775808]") == [2**64 - 1, -(2**63)]
    # Nineteen digits inside a string only send the text down the careful path.
    assert loads('{"id": "1234567890123456789"}') == {"id": "1234567890123456789"}


def test_dumps_writes_strings_and_values_as_json_dumps_does() -> None:
    for value in ["a/b", 'é\u2028\x00"\\', {"a": [1, 2.5, None, True]}, [], {}, -0.0, 2**63]:
        expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        assert dumps(value) == expected
    for bad in [float("nan"), "\ud800", {"a": "x\udc00"}]:
        with pytest.raises(JsonValueError):
            dumps(bad)


@settings(max_examples=300)
@given(json_trees | st.integers(min_value=-(2**80), max_value=2**80))
def test_a_call_body_reads_back_as_it_was_written(value: Any) -> None:
    """``dumps_wire`` (orjson; ``dumps`` for an integer past 64 bits) writes what ``dumps``
    does, read back."""
    body = {"event": value, "steps": {"h": value}, "ctx": {"attempt": 0, "stack": [value]}}
    assert json.loads(json_values.dumps_wire(body)) == json.loads(dumps(body))


# Strings full of what the byte-level check looks at, and numbers around the ambiguous edge.
structural_text = st.text(alphabet='{}[]"\\e0123456789 ab', max_size=8)
edge_numbers = st.floats(min_value=9.0e18, max_value=9.4e18) | st.integers(
    min_value=2**63 - 2, max_value=2**64 - 1
)
tricky_trees = st.recursive(
    json_scalars | structural_text | edge_numbers,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(structural_text, inner, max_size=3),
    max_leaves=30,
)


@given(tricky_trees, st.integers(min_value=1, max_value=12))
@settings(max_examples=400)
def test_the_byte_level_check_passes_only_what_the_walk_passes(value: Any, depth: int) -> None:
    raw = json.dumps(value, ensure_ascii=False).encode()
    if json_values._plainly_settled(raw, depth):
        assert json_values._settled(orjson.loads(raw), depth)


@pytest.mark.parametrize("levels", [1, 63, 64, 65, 127, 128, 129, 200])
def test_the_byte_level_check_knows_how_deep_a_document_is(levels: int) -> None:
    raw = ('[{"a":' * levels + "1" + "}]" * levels).encode()  # 2 * levels deep
    shallow = 2 * levels <= json_values.MAX_DEPTH
    assert json_values._plainly_settled(raw, json_values.MAX_DEPTH) == shallow
    if shallow:
        assert loads(raw) == json.loads(raw)
    else:
        with pytest.raises(JsonValueError, match="nested deeper"):
            loads(raw)
    # A bracket inside a string at each level: left to the walk, which reads it alike.
    raw = ('[{"k":"]","a":' * levels + "1" + "}]" * levels).encode()
    assert json_values._plainly_settled(raw, json_values.MAX_DEPTH) is False or shallow
