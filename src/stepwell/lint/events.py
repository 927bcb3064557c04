"""SW112 (advice): an event named by a bare string where a typed event class
(``class X(stepwell.EventData, name="...")``) is declared for it in the files linted: in a
trigger, in the events a ``send_event`` step sends, or in a ``wait_for_event``."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from stepwell.lint.discover import DurableFunction
from stepwell.lint.scope import CallInfo, Report, RuleGroup, Scope


def _string(node: ast.expr | None) -> ast.Constant | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node
    return None


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _callee(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def _trigger_names(node: ast.expr) -> Iterator[ast.Constant]:
    """``on_event("x")`` (ours) and ``TriggerEvent(event="x")`` (inngest-py), in lists too."""
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        callee = _callee(call)
        if callee == "on_event":
            found = _string(call.args[0] if call.args else _keyword(call, "name"))
        elif callee == "TriggerEvent":
            found = _string(_keyword(call, "event"))
        else:
            continue
        if found is not None:
            yield found


def _sent_names(node: ast.expr) -> Iterator[ast.Constant]:
    """``Event(name="x", ...)`` and ``{"name": "x", ...}``, alone or in a list."""
    items = node.elts if isinstance(node, ast.List | ast.Tuple) else [node]
    for item in items:
        if isinstance(item, ast.Call) and _callee(item) == "Event":
            found = _string(_keyword(item, "name"))
        elif isinstance(item, ast.Dict):
            found = next(
                (
                    _string(v)
                    for k, v in zip(item.keys, item.values, strict=True)
                    if _string(k) is not None and _string(k).value == "name"  # type: ignore[union-attr]
                ),
                None,
            )
        else:
            continue
        if found is not None:
            yield found


class Events(RuleGroup):
    codes = frozenset({"SW112"})

    def __init__(self, report: Report, typed: dict[str, str]) -> None:
        super().__init__(report)
        self.typed = typed

    def _check(self, names: Iterator[ast.Constant]) -> None:
        for node in names:
            cls = self.typed.get(str(node.value))
            if cls is not None:
                self.report(node, "SW112", repr(node.value), f"`{cls}`")

    def begin(self, function: DurableFunction, scope: Scope) -> None:
        trigger = function.option("trigger")
        if trigger is not None and self.typed:
            self._check(_trigger_names(trigger))

    def on_call(self, call: CallInfo, scope: Scope) -> None:
        if not self.typed or call.step is None:
            return
        node = call.node
        if call.step == "send_event":
            events = node.args[1] if len(node.args) > 1 else _keyword(node, "events")
            if events is not None:
                self._check(_sent_names(events))
        elif call.step == "wait_for_event":
            found = _string(_keyword(node, "event"))
            if found is not None:
                self._check(iter([found]))
