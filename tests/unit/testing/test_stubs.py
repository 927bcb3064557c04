"""What a stub gives: its value, its callable's value, or its exception."""

from __future__ import annotations

import pytest

import stepwell
from stepwell.testing.stubs import StepStubs


def test_a_repeated_step_id_falls_back_to_the_id_it_repeats() -> None:
    stubs = StepStubs.of({"charge": 1, "charge:2": 3})
    assert stubs.find("charge") == (True, 1)
    assert stubs.find("charge:1") == (True, 1)
    assert stubs.find("charge:2") == (True, 3)
    assert stubs.find("email") == (False, None)


def test_values_callables_and_exceptions() -> None:
    stubs = StepStubs.of({})
    assert stubs.value_of("a", {"x": 1}) == {"x": 1}
    assert stubs.value_of("b", lambda: [1, 2]) == [1, 2]
    assert stubs.value_of("c", None) is None
    with pytest.raises(RuntimeError, match="no"):
        stubs.value_of("d", RuntimeError("no"))
    with pytest.raises(KeyError):
        stubs.value_of("e", KeyError)
    assert stubs.calls == {"a": 1, "b": 1, "c": 1, "d": 1, "e": 1}


def test_an_event_is_stored_in_its_wire_form() -> None:
    event = stepwell.Event(name="shop/paid", data={"order": 1}, id="p-1")
    stored = StepStubs.of({}).value_of("wait", event)
    assert stored["name"] == "shop/paid"
    assert stored["data"] == {"order": 1}
    assert stepwell.Event.from_wire(stored) == event


def test_an_async_callable_is_refused_with_a_reason() -> None:
    async def later() -> int:
        return 1

    with pytest.raises(TypeError, match="plain callables"):
        StepStubs.of({}).value_of("x", later)


def test_run_stubs_win_over_function_stubs() -> None:
    merged = StepStubs.of({"a": 1, "b": 2}).merged(StepStubs.of({"b": 3}))
    assert merged.by_id == {"a": 1, "b": 3}
