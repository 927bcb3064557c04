"""SW101 (non-deterministic values outside a step), SW111 (step ids built from them), SW105
(plain sleeps) and SW106 (polling loops): what makes a replay differ from the first run."""

from __future__ import annotations

import ast

from stepwell.lint import catalog
from stepwell.lint.names import qualname
from stepwell.lint.nodes import child_nodes
from stepwell.lint.scope import CallInfo, RuleGroup, Scope, label, step_id, walk_shallow


def _non_deterministic(node: ast.AST, scope: Scope, *, in_ids: bool) -> ast.AST | None:
    """The first call (or tainted name) under ``node`` whose value differs between runs; step
    calls are skipped (their values are stored)."""
    stack: list[ast.AST] = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(current, ast.Call):
            if scope.step_method(current) is not None:
                continue
            name = qualname(current.func, scope.imports)
            if name is not None and (
                catalog.non_deterministic(name, len(current.args))
                or (in_ids and name in catalog.PROCESS_LOCAL)
            ):
                return current
        elif (
            isinstance(current, ast.Name)
            and current.id in scope.tainted
            and isinstance(current.ctx, ast.Load)
        ):
            return current
        stack.extend(child_nodes(current))
    return None


def _is_sleep(node: ast.AST, scope: Scope) -> bool:
    if not isinstance(node, ast.Call):
        return False
    if scope.step_method(node) in ("sleep", "sleep_until"):
        return True
    return qualname(node.func, scope.imports) in catalog.SLEEPS and not _zero(node)


def _zero(call: ast.Call) -> bool:
    """``asyncio.sleep(0)``: a yield to the event loop, not a wait."""
    return bool(call.args) and isinstance(call.args[0], ast.Constant) and call.args[0].value == 0


def _exits(body: list[ast.AST]) -> bool:
    """Whether the loop body leaves the loop on a condition (``if ...: break`` or return)."""
    for stmt in body:
        for node in walk_shallow(stmt):
            if isinstance(node, ast.If | ast.Match) and any(
                isinstance(n, ast.Break | ast.Return) for n in walk_shallow(node)
            ):
                return True
    return False


class Determinism(RuleGroup):
    codes = frozenset({"SW101", "SW105", "SW106", "SW111"})

    def on_call(self, call: CallInfo, scope: Scope) -> None:
        if scope.in_step:
            return
        if call.step is not None:
            self._step_id(call.node, scope)
            return
        name = call.qualname
        if name is None:
            return
        if not scope.in_step_id and catalog.non_deterministic(name, len(call.node.args)):
            self.report(call.node, "SW101", call.label, "")
        if name in catalog.SLEEPS and not _zero(call.node):
            self.report(call.node, "SW105", call.label, "")

    def _step_id(self, call: ast.Call, scope: Scope) -> None:
        ident = step_id(call)
        if ident is None:
            return
        found = _non_deterministic(ident, scope, in_ids=True)
        if found is not None:
            if isinstance(found, ast.Name):
                what = f"`{found.id}` (a non-deterministic value)"
            else:
                assert isinstance(found, ast.expr)
                what = f"`{label(found)}`"
            self.report(found, "SW111", what, "")

    def on_assign(self, targets: list[ast.expr], value: ast.expr, scope: Scope) -> None:
        if scope.in_step or _non_deterministic(value, scope, in_ids=True) is None:
            return
        for target in targets:
            for node in ast.walk(target):
                if isinstance(node, ast.Name):
                    scope.tainted.add(node.id)

    def on_loop(self, node: ast.AST, body: list[ast.AST], scope: Scope) -> None:
        if scope.in_step or not isinstance(node, ast.For | ast.AsyncFor | ast.While):
            return
        sleep = next((n for stmt in body for n in walk_shallow(stmt) if _is_sleep(n, scope)), None)
        if sleep is None:
            return
        conditional = isinstance(node, ast.While) and not (
            isinstance(node.test, ast.Constant) and node.test.value
        )
        if conditional or _exits(body):
            keyword = "while" if isinstance(node, ast.While) else "for"
            assert isinstance(sleep, ast.Call)
            self.report(node, "SW106", f"`{keyword}` with `{label(sleep.func)}()`", "")
