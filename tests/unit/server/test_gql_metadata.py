"""Run metadata on trace spans (``server.gql_metadata``): updates of one kind and scope on a
span combine by their ops, in the order written."""

from __future__ import annotations

from typing import Any

from stepwell.server.gql_metadata import span_metadata


def _entry(op: str, values: dict[str, Any], at: int, **where: Any) -> dict[str, Any]:
    return {"kind": "userland.k", "scope": "run", "op": op, "values": values, "at": at} | where


def test_ops_combine_in_order() -> None:
    entries = [
        _entry("set", {"a": 1, "b": 2, "c": "x"}, 1_000),
        _entry("merge", {"b": 3}, 2_000),
        _entry("add", {"a": 4, "c": 1, "d": 5}, 3_000),
        _entry("delete", {"b": None}, 4_000),
    ]
    [combined] = span_metadata(entries)[None]
    assert combined == {
        "kind": "userland.k",
        "scope": "run",
        "values": {"a": 5, "c": 1, "d": 5},
        "updatedAt": "1970-01-01T00:00:04.000Z",
    }
    [reset] = span_metadata([*entries, _entry("set", {"z": 0}, 5_000)])[None]
    assert reset["values"] == {"z": 0}


def test_spans_scopes_and_attempts_stay_apart() -> None:
    step = {"step_hash": "h", "scope": "step_attempt"}
    by_span = span_metadata(
        [
            _entry("set", {"a": 1}, 1),
            _entry("set", {"a": 2}, 2, **step, attempt=0),
            _entry("set", {"a": 3}, 3, **step, attempt=1),
            _entry("merge", {"b": 1}, 4, step_hash="h", scope="step"),
            _entry("set", {"ignored": 1}, 5) | {"values": "not an object"},
        ]
    )
    assert [m["values"] for m in by_span[None]] == [{"a": 1}]
    assert [(m["scope"], m["values"]) for m in by_span["h"]] == [
        ("step_attempt", {"a": 2}),
        ("step_attempt", {"a": 3}),
        ("step", {"b": 1}),
    ]
