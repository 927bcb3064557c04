"""The event model (protocol.md §2.2) and the system event names (§7)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from stepwell.protocol import events
from stepwell.protocol.events import Event, is_internal_name
from tests.unit.strategies import JSON


def test_to_wire_shape_without_version() -> None:
    event = Event(name="app/order.created", data={"order_id": 7}, id="idem-1", ts=1_700_000_000_000)
    assert event.to_wire() == {
        "name": "app/order.created",
        "data": {"order_id": 7},
        "id": "idem-1",
        "ts": 1_700_000_000_000,
        "user": {},
    }


def test_to_wire_includes_version_when_set() -> None:
    assert Event(name="a", v="2024-01-01.1").to_wire()["v"] == "2024-01-01.1"


def test_defaults() -> None:
    event = Event(name="a")
    assert (event.data, event.id, event.ts, event.user, event.v) == ({}, "", 0, {}, None)
    # Mutable defaults are not shared between instances.
    event.data["x"] = 1
    assert Event(name="b").data == {}


def test_from_wire_fills_nulls_and_missing_fields() -> None:
    event = Event.from_wire({"name": "a", "data": None, "id": None, "ts": None, "user": None})
    assert event == Event(name="a")
    assert Event.from_wire({"name": "a"}) == Event(name="a")


def test_from_wire_coerces_ts_to_int() -> None:
    assert Event.from_wire({"name": "a", "ts": 1_700_000_000_000.0}).ts == 1_700_000_000_000
    assert isinstance(Event.from_wire({"name": "a", "ts": 5.0}).ts, int)


def test_from_wire_reads_a_stored_wait_for_event_memo() -> None:
    # A matched waitForEvent memo is the bare event object (§5.4).
    raw = {
        "name": "test/resume",
        "data": {"id": 3},
        "user": {"email": "x@example.com"},
        "id": "01JABCDEF",
        "ts": 1_767_225_600_000,
        "v": "1",
    }
    event = Event.from_wire(raw)
    assert event.to_wire() == raw


@given(
    st.builds(
        Event,
        name=st.text(min_size=1, max_size=20),
        data=st.dictionaries(st.text(max_size=5), JSON, max_size=3),
        id=st.text(max_size=10),
        ts=st.integers(min_value=0, max_value=2**53),
        user=st.dictionaries(st.text(max_size=5), JSON, max_size=3),
        v=st.none() | st.text(max_size=5),
    )
)
def test_wire_round_trip(event: Event) -> None:
    wire: dict[str, Any] = event.to_wire()
    assert Event.from_wire(wire) == event
    assert ("v" in wire) == (event.v is not None)


def test_system_event_names() -> None:
    assert events.INTERNAL_PREFIX == "inngest/"
    assert events.FUNCTION_FINISHED == "inngest/function.finished"
    assert events.FUNCTION_FAILED == "inngest/function.failed"
    assert events.FUNCTION_CANCELLED == "inngest/function.cancelled"
    assert events.FUNCTION_INVOKED == "inngest/function.invoked"
    assert events.SCHEDULED_TIMER == "inngest/scheduled.timer"


def test_is_internal_name() -> None:
    assert is_internal_name(events.FUNCTION_FINISHED)
    assert is_internal_name("Inngest/Anything")
    assert not is_internal_name("app/inngest/x")
    assert not is_internal_name("inngest.function.finished")
    assert not is_internal_name("")
