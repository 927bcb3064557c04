"""The state of the walk through one durable function, and what rule groups are given.

A ``Scope`` says where the walker is: in the function body (or a helper it calls) or inside a
step's callable, under which loops, and what the context and the step tools are called there.
Rule groups subclass ``RuleGroup`` and receive each call, loop, assignment, bare expression and
return the walker meets, with the scope it met them in.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from operator import attrgetter

from stepwell.lint import catalog
from stepwell.lint.discover import DurableFunction
from stepwell.lint.names import Def, ModuleInfo, bound_in
from stepwell.lint.nodes import child_nodes

Report = Callable[[ast.AST, str, str, str], None]


@dataclass(slots=True)
class Scope:
    function: DurableFunction
    module: ModuleInfo
    definition: Def | ast.Lambda
    ctx_names: set[str]
    step_names: set[str]
    is_async: bool
    imports: dict[str, str]
    local_defs: dict[str, Def]
    objects: dict[str, str] = field(default_factory=dict)
    tainted: set[str] = field(default_factory=set)
    declared_global: set[str] = field(default_factory=set)
    in_step: bool = False
    step_call: ast.Call | None = None
    loops: tuple[ast.AST, ...] = ()
    in_step_id: bool = False
    _bound: set[str] | None = None

    def but(self, **changes: object) -> Scope:
        """A copy with ``changes``; the name sets and maps stay shared unless replaced."""
        copied = Scope(*_fields_of(self))
        for name, value in changes.items():
            setattr(copied, name, value)
        return copied

    def binds(self, name: str) -> bool:
        """Whether the function being walked binds ``name`` itself (shadowing the module's)."""
        if self._bound is None:
            definition = self.definition
            self._bound = (
                bound_in(self.module, definition)
                if not isinstance(definition, ast.Lambda)
                else set()
            )
        return name in self._bound

    def is_ctx(self, node: ast.expr) -> bool:
        return isinstance(node, ast.Name) and node.id in self.ctx_names

    def is_step_tools(self, node: ast.expr) -> bool:
        """``ctx.step``, ``ctx.group``, or a name they were given to."""
        if isinstance(node, ast.Name):
            return node.id in self.step_names
        return (
            isinstance(node, ast.Attribute)
            and node.attr in ("step", "group")
            and self.is_ctx(node.value)
        )

    def holds_ctx(self, node: ast.expr) -> bool:
        """``node`` is the context or the step tools, or a tuple/list/dict holding them."""
        if self.is_ctx(node) or self.is_step_tools(node):
            return True
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return any(self.holds_ctx(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            return any(self.holds_ctx(v) for v in node.values)
        if isinstance(node, ast.Starred):
            return self.holds_ctx(node.value)
        return False

    def step_method(self, call: ast.Call) -> str | None:
        """The step method ``call`` calls (``run``, ``ai.infer``...), or None."""
        func = call.func
        if not isinstance(func, ast.Attribute):
            return None
        if self.is_step_tools(func.value) and func.attr in catalog.STEP_METHODS:
            return func.attr
        inner = func.value
        if (
            isinstance(inner, ast.Attribute)
            and inner.attr in ("ai", "group")
            and self.is_step_tools(inner.value)
        ):
            method = f"{inner.attr}.{func.attr}"
            if method in catalog.STEP_METHODS:
                return "parallel" if method == "group.parallel" else method
        return None


# Every field of a scope, in the order ``Scope()`` takes them (``but`` is on the walk's path:
# this is three times faster than ``copy.copy``).
_fields_of = attrgetter(*(f.name for f in fields(Scope)))


@dataclass(frozen=True, slots=True)
class CallInfo:
    node: ast.Call
    qualname: str | None
    step: str | None  # the step method, if this calls one
    helper: Def | None  # the helper of this file it calls, which the walker follows

    @property
    def label(self) -> str:
        return f"`{label(self.node.func)}()`"


def step_id(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0]
    for keyword in call.keywords:
        if keyword.arg in ("step_id", "id"):
            return keyword.value
    return None


def describe_step(call: ast.Call) -> str:
    node = step_id(call)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return repr(node.value)
    return label(node, 32) if node is not None else "(no id)"


def label(node: ast.expr, limit: int = 48) -> str:
    """Short source text of ``node`` for a message."""
    text = ast.unparse(node)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def walk_shallow(node: ast.AST) -> list[ast.AST]:
    """The nodes under ``node`` that run with it: not inside lambdas or nested definitions."""
    out: list[ast.AST] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        for child in child_nodes(current):
            if not isinstance(child, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef):
                stack.append(child)
    return out


class RuleGroup:
    """A group of rules. ``codes`` are the rules it can report; it is only run when one of them
    is selected, and ``report`` drops the findings of rules that are not."""

    codes: frozenset[str] = frozenset()

    def __init__(self, report: Report) -> None:
        self.report = report

    def begin(self, function: DurableFunction, scope: Scope) -> None:
        return None

    def end(self, function: DurableFunction, scope: Scope) -> None:
        return None

    def on_call(self, call: CallInfo, scope: Scope) -> None:
        return None

    def on_step_callable(self, fn: Def | ast.Lambda, call: ast.Call, scope: Scope) -> None:
        return None

    def on_loop(self, node: ast.AST, body: list[ast.AST], scope: Scope) -> None:
        return None

    def on_assign(self, targets: list[ast.expr], value: ast.expr, scope: Scope) -> None:
        return None

    def on_expression(self, node: ast.Expr, scope: Scope) -> None:
        return None

    def on_return(self, value: ast.expr, scope: Scope) -> None:
        return None
