"""Validation of events: the event API's path for parsed bodies against the general one."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from stepwell.core import json_values
from stepwell.engine.ingest import MAX_TS_MS, MIN_TS_MS, InvalidEventError, validate_batch

NOW = 1_700_000_000_000

# Floats only as json and orjson write them alike (no exponent): the bodies are then equal
# text, and so are the sizes in refusals.
_numbers = st.integers(-(2**63), 2**64 - 1) | st.integers(-1000, 1000).map(lambda n: n / 8)
_text = st.text(max_size=12)
_values = st.recursive(
    st.none() | st.booleans() | _numbers | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_fields: dict[str, Any] = {
    "name": st.sampled_from(["shop/order", "", " ", "inngest/x", "a\nb", "é/ü", 'q"\\']) | _values,
    "data": st.dictionaries(st.sampled_from(["k", "_inngest", "ü"]), _values, max_size=3) | _values,
    "id": st.sampled_from(["", "key-1", "ключ"]) | _values,
    "ts": st.sampled_from([0, NOW, 1, True, 1.5, "1", MIN_TS_MS - 1, MIN_TS_MS, MAX_TS_MS])
    | st.sampled_from([MAX_TS_MS + 1])
    | _values,
    "user": st.dictionaries(_text, _values, max_size=2) | _values,
    "v": st.sampled_from([None, "2024-01-01.1"]) | _values,
    "extra": _values,
}
_events = (
    st.fixed_dictionaries({}, optional={name: strategy for name, strategy in _fields.items()})
    | _values
)


def _outcome(events: list[Any], loaded: bool, max_bytes: int) -> Any:
    ids = [f"id{i}" for i in range(len(events))]
    try:
        stored = validate_batch(
            events, now_ms=NOW, max_bytes=max_bytes, ids=ids, allow_internal=False, loaded=loaded
        )
    except InvalidEventError as exc:
        return str(exc)
    return [(s.internal_id, s.event, s.received_at, s.body) for s in stored]


@settings(max_examples=400)
@given(st.lists(_events, min_size=1, max_size=3), st.integers(40, 200))
def test_loaded_events_are_accepted_and_refused_as_any_others(
    events: list[Any], max_bytes: int
) -> None:
    # As the event API has them: read from JSON text by json_values.loads.
    loaded = json_values.loads(json.dumps(events, ensure_ascii=False))
    again = json_values.loads(json.dumps(events, ensure_ascii=False))
    assert _outcome(loaded, True, max_bytes) == _outcome(again, False, max_bytes)


@settings(max_examples=300)
@given(
    st.fixed_dictionaries(
        {"name": _text, "data": _fields["data"]},
        optional={k: v for k, v in _fields.items() if k not in ("name", "data", "extra")},
    )
)
def test_a_loaded_event_of_the_largest_size_allowed_is_accepted(event: dict[str, Any]) -> None:
    # Its size as the general path words a refusal: then both accept it at exactly that
    # limit and refuse it one byte under.
    text = json.dumps([event], ensure_ascii=False)
    refusal = _outcome(json_values.loads(text), False, 1)
    if not (isinstance(refusal, str) and refusal.startswith("event 0: payload is ")):
        return  # refused for another reason, or not valid at all
    size = int(refusal.split()[4])
    for limit in (size, size - 1):
        expected = _outcome(json_values.loads(text), False, limit)
        assert _outcome(json_values.loads(text), True, limit) == expected
        assert isinstance(expected, str) == (limit < size)


def test_a_loaded_event_gets_the_id_given_or_a_fresh_one() -> None:
    events = json_values.loads(b'[{"name":"a/b"},{"name":"a/b"}]')
    [first, second] = validate_batch(events, now_ms=NOW, max_bytes=1000, loaded=True)
    assert first.internal_id < second.internal_id
    assert first.body == '{"data":{},"user":{},"v":null}'
    assert first.event.ts == NOW
