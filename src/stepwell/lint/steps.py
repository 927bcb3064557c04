"""SW103 (a step inside a step), SW107 (a step not awaited), SW109 (send_event in a loop) and
SW114 (a step callable whose annotation says it returns what JSON cannot hold)."""

from __future__ import annotations

import ast

from stepwell.lint import catalog
from stepwell.lint.names import Def
from stepwell.lint.scope import CallInfo, RuleGroup, Scope, describe_step, label


def _not_json(annotation: ast.expr) -> ast.expr | None:
    """The part of a return annotation naming a type JSON cannot hold, or None."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return None
    for node in ast.walk(annotation):
        name = None
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Attribute):
            name = node.attr
        if name in catalog.NOT_JSON_TYPES:
            assert isinstance(node, ast.expr)
            return node
    return None


def _never_read(name: str, definition: Def | ast.Lambda) -> bool:
    return not any(
        isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
        for n in ast.walk(definition)
    )


class Steps(RuleGroup):
    codes = frozenset({"SW103", "SW107", "SW109", "SW114"})

    def on_call(self, call: CallInfo, scope: Scope) -> None:
        if call.step is None:
            return
        if scope.in_step:
            outer = scope.step_call
            around = f" (in {describe_step(outer)})" if outer is not None else ""
            what = f"{call.step} {describe_step(call.node)}"
            self.report(call.node, "SW103", what + around, "")
        elif call.step == "send_event" and scope.loops:
            self.report(call.node, "SW109", describe_step(call.node), "")

    def _unawaited(self, value: ast.expr, scope: Scope) -> str | None:
        if scope.in_step or not scope.is_async or not isinstance(value, ast.Call):
            return None
        method = scope.step_method(value)
        return None if method is None else f"{method} {describe_step(value)}"

    def on_expression(self, node: ast.Expr, scope: Scope) -> None:
        what = self._unawaited(node.value, scope)
        if what is not None:
            self.report(node.value, "SW107", what, "")

    def on_assign(self, targets: list[ast.expr], value: ast.expr, scope: Scope) -> None:
        what = self._unawaited(value, scope)
        if what is None or len(targets) != 1 or not isinstance(targets[0], ast.Name):
            return
        if _never_read(targets[0].id, scope.definition):
            self.report(value, "SW107", what, "")

    def on_step_callable(self, fn: Def | ast.Lambda, call: ast.Call, scope: Scope) -> None:
        if isinstance(fn, ast.Lambda) or fn.returns is None:
            return
        bad = _not_json(fn.returns)
        if bad is not None:
            self.report(fn.returns, "SW114", repr(fn.name), f"`{label(fn.returns)}`")
