"""CEL expressions for trigger ``if`` and ``wait_for_event`` ``if``/``match``."""

from __future__ import annotations

from typing import Any

import pytest

from stepwell.core.expressions import (
    ExpressionError,
    compile_expression,
    evaluate_bool,
    match_expression,
)


def _event(**data: Any) -> dict[str, Any]:
    return {"name": "app/order", "data": data, "user": {}, "id": "", "ts": 0}


@pytest.mark.parametrize(
    "source", ["event.data.x ==", "1 +", "event.data.x = 1", "((", "", "'unterminated"]
)
def test_compile_errors_raise_expression_error(source: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(source)
    assert f"invalid expression {source!r}" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_compiled_programs_are_cached() -> None:
    assert compile_expression("event.data.n > 1") is compile_expression("event.data.n > 1")


def test_evaluate_bool_true_and_false() -> None:
    assert evaluate_bool("event.data.amount > 100", {"event": _event(amount=150)})
    assert not evaluate_bool("event.data.amount > 100", {"event": _event(amount=50)})
    assert evaluate_bool("event.name == 'app/order'", {"event": _event()})
    assert evaluate_bool(
        "event.data.tier == 'gold' && event.data.amount >= 1",
        {"event": _event(tier="gold", amount=1)},
    )


def test_missing_field_is_false() -> None:
    assert not evaluate_bool("event.data.amount > 100", {"event": _event()})
    assert not evaluate_bool("event.data.a.b == 1", {"event": _event(a={})})


def test_missing_variable_is_false() -> None:
    assert not evaluate_bool("async.data.id == event.data.id", {"event": _event(id=1)})


def test_non_boolean_or_mistyped_result_is_false() -> None:
    assert not evaluate_bool("event.data.x", {"event": _event(x="yes")})
    assert not evaluate_bool("event.data.x", {"event": _event(x=1)})
    assert not evaluate_bool("event.data.x > 1", {"event": _event(x="yes")})
    assert evaluate_bool("event.data.x", {"event": _event(x=True)})


def test_evaluate_bool_raises_on_invalid_source() -> None:
    with pytest.raises(ExpressionError):
        evaluate_bool("event.data.x ==", {"event": _event(x=1)})


def test_wait_for_event_expression_sees_both_events() -> None:
    source = "async.data.id == event.data.id"
    assert evaluate_bool(source, {"event": _event(id="o-1"), "async": _event(id="o-1")})
    assert not evaluate_bool(source, {"event": _event(id="o-1"), "async": _event(id="o-2")})


def test_match_expression() -> None:
    assert match_expression("data.order_id") == "event.data.order_id == async.data.order_id"
    assert match_expression("event.data.order_id") == "event.data.order_id == async.data.order_id"
    assert match_expression("  data.id  ") == "event.data.id == async.data.id"


def test_match_expression_compiles_and_matches() -> None:
    source = match_expression("data.order_id")
    assert evaluate_bool(source, {"event": _event(order_id=9), "async": _event(order_id=9)})
    assert not evaluate_bool(source, {"event": _event(order_id=9), "async": _event(order_id=8)})
    assert not evaluate_bool(source, {"event": _event(order_id=9), "async": _event()})


@pytest.mark.parametrize("field_path", ["", "   ", "data.order id", "data.\tid"])
def test_match_expression_rejects_bad_paths(field_path: str) -> None:
    with pytest.raises(ExpressionError, match=r"expected a path like data\.id"):
        match_expression(field_path)
