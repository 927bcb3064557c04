"""SW102 (I/O outside a step), SW108 (print and module loggers in a function body), SW110
(HTTP inside ``step.run`` where ``step.fetch`` would do) and SW113 (external calls with no
concurrency limit): what a function does to the world, and where it does it."""

from __future__ import annotations

import ast

from stepwell.lint import catalog
from stepwell.lint.discover import DurableFunction
from stepwell.lint.names import io_object_kind, qualname
from stepwell.lint.scope import CallInfo, RuleGroup, Scope

_WRITE_MODES = frozenset("wax+")
_DATABASE_SUFFIXES = ("_session", "_conn", "_db", "_cursor", "_connection")


def _write_mode(call: ast.Call) -> bool:
    mode = call.args[1] if len(call.args) > 1 else None
    for keyword in call.keywords:
        if keyword.arg == "mode":
            mode = keyword.value
    if mode is None:
        return False
    if isinstance(mode, ast.Constant) and isinstance(mode.value, str):
        return bool(_WRITE_MODES & set(mode.value))
    return True  # a mode we cannot read: assume it may write


def _receiver_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def io_kind(call: CallInfo, scope: Scope) -> str | None:
    """What kind of I/O ``call`` does: "HTTP", "database", "subprocess", "file write"."""
    name = call.qualname
    if name is not None:
        if name in catalog.HTTP_CALLS:
            return "HTTP"
        if name in catalog.DATABASE_CONNECTS:
            return "database"
        if name.startswith(("subprocess.", "os.exec", "os.spawn")) or (
            name in catalog.PROCESS_CALLS
        ):
            return "subprocess"
        if name in catalog.FILE_WRITES or (name in catalog.OPENERS and _write_mode(call.node)):
            return "file write"
    func = call.node.func
    if not isinstance(func, ast.Attribute):
        return None
    if func.attr in catalog.WRITE_METHODS:
        return "file write"
    receiver = func.value
    kind = None
    if isinstance(receiver, ast.Name) and receiver.id in scope.objects:
        kind = scope.objects[receiver.id]
    elif isinstance(receiver, ast.Call):
        kind = io_object_kind(receiver, scope.imports)
    if kind == "HTTP":
        return kind if func.attr in catalog.HTTP_METHODS else None
    if kind is not None:
        return kind
    if isinstance(receiver, ast.Attribute) and receiver.attr == "objects":
        return "database"  # a Django manager: Model.objects.get(...)
    receiver_name = _receiver_name(receiver)
    if (
        func.attr in catalog.DATABASE_METHODS
        and receiver_name is not None
        and (
            receiver_name in catalog.DATABASE_RECEIVERS
            or receiver_name.endswith(_DATABASE_SUFFIXES)
        )
    ):
        return "database"
    return None


def _is_log_call(call: CallInfo, scope: Scope) -> bool:
    if call.qualname in catalog.PRINTS:
        return True
    func = call.node.func
    if not isinstance(func, ast.Attribute) or func.attr not in catalog.LOG_METHODS:
        return False
    receiver = func.value
    if isinstance(receiver, ast.Name):
        if receiver.id in scope.module.loggers and not scope.binds(receiver.id):
            return True
        return scope.imports.get(receiver.id) in ("logging", "loguru.logger")
    return isinstance(receiver, ast.Call) and (
        qualname(receiver.func, scope.imports) in catalog.LOGGER_FACTORIES
    )


class SideEffects(RuleGroup):
    codes = frozenset({"SW102", "SW108", "SW110", "SW113"})

    def begin(self, function: DurableFunction, scope: Scope) -> None:
        self._external: ast.AST | None = None

    def on_assign(self, targets: list[ast.expr], value: ast.expr, scope: Scope) -> None:
        kind = io_object_kind(value, scope.imports)
        for target in targets:
            if isinstance(target, ast.Name):
                if kind is not None:
                    scope.objects[target.id] = kind
                else:
                    scope.objects.pop(target.id, None)

    def on_call(self, call: CallInfo, scope: Scope) -> None:
        if call.step is not None:
            if call.step in catalog.EXTERNAL_STEPS:
                self._external = self._external or call.node
            return
        kind = io_kind(call, scope)
        if scope.in_step:
            if kind == "HTTP":
                self.report(call.node, "SW110", call.label, "")
            if kind is not None and kind != "file write":
                self._external = self._external or call.node
            return
        if kind is not None:
            self.report(call.node, "SW102", f"{kind} call {call.label}", "")
        if _is_log_call(call, scope):
            self.report(call.node, "SW108", call.label, "")

    def end(self, function: DurableFunction, scope: Scope) -> None:
        if self._external is None:
            return
        if any(function.option(n) is not None for n in ("concurrency", "throttle")):
            return
        self.report(function.decorator, "SW113", repr(_function_id(function)), "")


def _function_id(function: DurableFunction) -> str:
    node = function.option("fn_id")
    if node is None and function.decorator.args:
        node = function.decorator.args[0]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return function.name
