"""SW104: the context or the step tools leave the function: passed to a function the linter
cannot follow (one not defined in the same file), stored on an object, in a container or a
global, or returned. Helpers of the same file are followed instead, so passing ``ctx`` to them
is fine."""

from __future__ import annotations

import ast

from stepwell.lint.scope import CallInfo, RuleGroup, Scope, label

# Calls that look at a value without keeping it.
_HARMLESS = frozenset(
    {
        "builtins.isinstance",
        "builtins.type",
        "builtins.id",
        "builtins.repr",
        "builtins.hasattr",
        "builtins.getattr",
        "builtins.callable",
        "builtins.dir",
        "typing.cast",
        "typing_extensions.assert_type",
        "typing.assert_type",
        "typing.reveal_type",
    }
)


def _held(node: ast.expr, scope: Scope) -> ast.expr | None:
    """The ``ctx`` or step-tools expression ``node`` is or holds, or None."""
    if scope.is_ctx(node) or scope.is_step_tools(node):
        return node
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return next((h for e in node.elts if (h := _held(e, scope)) is not None), None)
    if isinstance(node, ast.Dict):
        return next((h for v in node.values if (h := _held(v, scope)) is not None), None)
    if isinstance(node, ast.Starred):
        return _held(node.value, scope)
    return None


class Escapes(RuleGroup):
    codes = frozenset({"SW104"})

    def on_call(self, call: CallInfo, scope: Scope) -> None:
        if call.step is not None or call.helper is not None or call.qualname in _HARMLESS:
            return
        node = call.node
        first = node.args[0] if node.args else None
        if (
            call.qualname == "functools.partial"
            and isinstance(first, ast.Name)
            and (first.id in scope.local_defs or first.id in scope.module.helpers)
        ):
            return
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            held = _held(arg, scope)
            if held is not None:
                what = f"`{label(held)}` passed to {call.label}"
                self.report(arg, "SW104", what, "")
                return

    def on_assign(self, targets: list[ast.expr], value: ast.expr, scope: Scope) -> None:
        held = _held(value, scope)
        if held is None:
            return
        for target in targets:
            if isinstance(target, ast.Attribute):
                where = f"stored on `{label(target.value)}`"
            elif isinstance(target, ast.Subscript):
                where = f"stored in `{label(target.value)}`"
            elif isinstance(target, ast.Name) and target.id in scope.declared_global:
                where = f"stored in the global `{target.id}`"
            else:
                continue
            self.report(target, "SW104", f"`{label(held)}` {where}", "")

    def on_return(self, value: ast.expr, scope: Scope) -> None:
        held = _held(value, scope)
        if held is not None:
            self.report(value, "SW104", f"`{label(held)}` returned", "")
