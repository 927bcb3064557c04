"""Generator opcodes (protocol.md §5.3): string op names, matched case-insensitively."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stepwell.protocol.ops import Op, Opcode
from stepwell.protocol.step_ids import hash_step_id
from tests.unit.strategies import JSON


def test_wire_names_are_the_protocol_strings() -> None:
    assert {member.value for member in Opcode} == {
        "Step",
        "StepRun",
        "StepError",
        "StepFailed",
        "StepPlanned",
        "Sleep",
        "WaitForEvent",
        "InvokeFunction",
        "AIGateway",
        "Gateway",
        "WaitForSignal",
        "RunComplete",
        "StepNotFound",
        "DiscoveryRequest",
        "DeferAdd",
        "DeferAbort",
    }


@pytest.mark.parametrize("member", list(Opcode))
def test_parse_is_case_insensitive(member: Opcode) -> None:
    assert Opcode.parse(member.value) is member
    assert Opcode.parse(member.value.lower()) is member
    assert Opcode.parse(member.value.upper()) is member


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("AiGateway", Opcode.AI_GATEWAY),
        ("aigateway", Opcode.AI_GATEWAY),
        ("steprun", Opcode.STEP_RUN),
        ("waitForEvent", Opcode.WAIT_FOR_EVENT),
        ("SLEEP", Opcode.SLEEP),
    ],
)
def test_parse_examples(name: str, expected: Opcode) -> None:
    assert Opcode.parse(name) is expected


@pytest.mark.parametrize("name", ["", "Run", "StepRunX", "step run", "Sleep "])
def test_parse_rejects_unknown_names(name: str) -> None:
    with pytest.raises(ValueError, match="unknown opcode") as info:
        Opcode.parse(name)
    assert repr(name) in str(info.value)


def test_from_wire_python_sdk_step_run() -> None:
    raw = {
        "op": "StepRun",
        "id": hash_step_id("my-step-id"),
        "name": "my-step-id",
        "displayName": "my-step-id",
        "data": {"ok": 1},
        "opts": None,
    }
    op = Op.from_wire(raw)
    assert op == Op(
        op=Opcode.STEP_RUN,
        id="e7d8a2f140845095749d60246ff1110c9d01d76a",
        name="my-step-id",
        display_name="my-step-id",
        opts={},
        data={"ok": 1},
        error=None,
    )


def test_from_wire_step_error_keeps_error_object() -> None:
    error = {"name": "ValueError", "message": "broken", "stack": "Traceback…", "code": "x"}
    op = Op.from_wire({"op": "StepError", "id": hash_step_id("a"), "name": "a", "error": error})
    assert op.op is Opcode.STEP_ERROR
    assert op.error == error
    assert op.data is None
    assert op.display_name == "a"  # falls back to name


def test_from_wire_typescript_sleep_without_id_or_display_name() -> None:
    op = Op.from_wire({"op": "Sleep", "name": "2s", "opts": {}})
    assert op.op is Opcode.SLEEP
    assert op.id == ""
    assert op.name == "2s"
    assert op.display_name == "2s"
    assert op.opts == {}


def test_from_wire_wait_for_event_opts() -> None:
    opts = {"timeout": "1m", "if": "async.data.id == event.data.id", "event": "test/resume"}
    op = Op.from_wire({"op": "waitforevent", "id": "h", "name": "test/resume", "opts": opts})
    assert op.op is Opcode.WAIT_FOR_EVENT
    assert op.opts == opts
    assert op.opts is not opts  # copied, not aliased


def test_from_wire_rejects_unknown_op() -> None:
    with pytest.raises(ValueError, match="unknown opcode"):
        Op.from_wire({"op": "Teleport", "id": "h"})


def test_from_wire_requires_op() -> None:
    with pytest.raises(ValueError, match="op: expected an opcode name"):
        Op.from_wire({"id": "h"})


def test_from_wire_null_id_is_not_the_string_none() -> None:
    assert Op.from_wire({"op": "StepPlanned", "id": None, "name": "a"}).id != "None"


def test_to_wire_shape() -> None:
    op = Op(op=Opcode.STEP_RUN, id=hash_step_id("a"), name="a", data=[1, 2])
    assert op.to_wire() == {
        "op": "StepRun",
        "id": "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8",
        "name": "a",
        "displayName": "a",
        "opts": None,
        "data": [1, 2],
    }


def test_to_wire_keeps_opts_display_name_and_error() -> None:
    error = {"name": "Error", "message": "nope", "stack": ""}
    op = Op(
        op=Opcode.STEP_FAILED,
        id="h",
        name="a",
        display_name="Fetch user",
        opts={"type": "step"},
        error=error,
    )
    wire = op.to_wire()
    assert wire["displayName"] == "Fetch user"
    assert wire["opts"] == {"type": "step"}
    assert wire["error"] == error
    assert wire["data"] is None


def test_metadata_travels_with_the_op() -> None:
    # TS 4.x: what ``inngest.metadata…set()`` inside ``step.run`` attached to the step.
    entry = {"kind": "userland.default", "scope": "step", "op": "set", "values": {"a": 1}}
    raw = {"op": "StepRun", "id": "h", "name": "a", "data": 1, "metadata": [entry, "junk"]}
    op = Op.from_wire(raw)
    assert op.metadata == [entry]
    assert op.to_wire()["metadata"] == [entry]  # a forwarded checkpoint keeps it
    assert Op.from_wire(raw | {"metadata": {"not": "a list"}}).metadata == []
    assert "metadata" not in Op(Opcode.STEP_RUN, "h", "a").to_wire()


def _ops() -> st.SearchStrategy[Op]:
    return st.builds(
        Op,
        op=st.sampled_from(list(Opcode)),
        id=st.text(alphabet="0123456789abcdef", min_size=40, max_size=40),
        name=st.text(max_size=10),
        display_name=st.text(min_size=1, max_size=10),
        opts=st.dictionaries(st.text(max_size=5), JSON, max_size=3),
        data=JSON,
        error=st.none()
        | st.fixed_dictionaries({"name": st.text(max_size=5), "message": st.text(max_size=10)}),
    )


@given(_ops())
def test_wire_round_trip(op: Op) -> None:
    wire: dict[str, Any] = op.to_wire()
    assert Op.from_wire(wire) == op
    assert Op.from_wire(wire).to_wire() == wire
