"""Finding durable functions in a module: ``@app.function(...)`` (ours) and
``@client.create_function(...)`` (the official inngest-py SDK), and the ``on_failure`` handlers
they name. Each is described by what its body calls the context and the step tools."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field

from stepwell.lint.names import Def, ModuleInfo, nested_defs
from stepwell.lint.nodes import block_children


@dataclass(frozen=True, slots=True)
class DurableFunction:
    node: Def
    decorator: ast.Call
    sdk: str  # "stepwell" or "inngest"
    ctx_names: frozenset[str]
    step_names: frozenset[str]
    # Functions defined beside it when it is itself defined inside a function (as in tests).
    enclosing: dict[str, Def] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.node.name

    def option(self, name: str) -> ast.expr | None:
        for keyword in self.decorator.keywords:
            if keyword.arg == name:
                return keyword.value
        return None


def _decorator(node: ast.expr, info: ModuleInfo) -> tuple[ast.Call, str] | None:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return None
    keywords = {k.arg for k in node.keywords}
    if node.func.attr == "create_function" and (info.uses_sdk or "fn_id" in keywords):
        return node, "inngest"
    if node.func.attr == "function" and (info.uses_sdk or "trigger" in keywords):
        return node, "stepwell"
    return None


def _params(fn: Def) -> list[str]:
    return [a.arg for a in [*fn.args.posonlyargs, *fn.args.args]]


def _described(
    fn: Def, decorator: ast.Call, sdk: str, enclosing: dict[str, Def]
) -> DurableFunction | None:
    params = _params(fn)
    if not params:
        return None
    # inngest-py before 0.4 passed the step tools as a second parameter: ``fn(ctx, step)``.
    steps = frozenset(params[1:2])
    return DurableFunction(fn, decorator, sdk, frozenset(params[:1]), steps, enclosing)


def _definitions(
    body: list[ast.stmt], enclosing: dict[str, Def]
) -> Iterator[tuple[Def, dict[str, Def]]]:
    """Every function defined in ``body``, at any depth, with the functions it can see beside
    it (those of the functions around it; the module's own are in ``ModuleInfo.helpers``)."""
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            yield stmt, enclosing
            inner = {**enclosing, **nested_defs(stmt.body)}
            yield from _definitions(_blocks(stmt.body), inner)
        elif isinstance(stmt, ast.ClassDef):
            yield from _definitions(stmt.body, enclosing)
        else:
            yield from _definitions(_blocks([stmt]), enclosing)


def _blocks(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements of ``body``'s compound statements, flattened one level."""
    out: list[ast.stmt] = []
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            out.append(stmt)
            continue
        for child in block_children(stmt):
            if isinstance(child, ast.stmt):
                out.append(child)
            else:
                assert isinstance(child, ast.ExceptHandler | ast.match_case)
                out.extend(child.body)
    return out


def durable_functions(info: ModuleInfo) -> list[DurableFunction]:
    found: list[DurableFunction] = []
    seen: set[int] = set()
    for stmt, enclosing in _definitions(info.tree.body, {}):
        for decorator in stmt.decorator_list:
            match = _decorator(decorator, info)
            if match is None:
                continue
            call, sdk = match
            targets = [stmt]
            handler = next((k.value for k in call.keywords if k.arg == "on_failure"), None)
            if isinstance(handler, ast.Name):
                named = enclosing.get(handler.id) or info.helpers.get(handler.id)
                if named is not None:
                    targets.append(named)
            for target in targets:
                described = _described(target, call, sdk, enclosing)
                if described is not None and id(target) not in seen:
                    seen.add(id(target))
                    found.append(described)
            break
    return found
