"""What a module's top level says about the names its functions use: imports, module-level
helpers, loggers, client objects, typed event classes. Read from the tree, nothing imported."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from stepwell.lint import catalog
from stepwell.lint.nodes import block_children, store_names

Def = ast.FunctionDef | ast.AsyncFunctionDef


@dataclass(slots=True)
class ModuleInfo:
    path: str
    tree: ast.Module
    imports: dict[str, str] = field(default_factory=dict)
    helpers: dict[str, Def] = field(default_factory=dict)
    loggers: set[str] = field(default_factory=set)
    # Module-level names bound to clients: name -> "HTTP" or "database".
    objects: dict[str, str] = field(default_factory=dict)
    # Typed event classes declared here: event name -> class name.
    events: dict[str, str] = field(default_factory=dict)
    uses_sdk: bool = False
    # What each function binds itself (``bound_in``): read once, asked by every scope.
    bound: dict[Def, set[str]] = field(default_factory=dict)


def add_import(imports: dict[str, str], node: ast.Import | ast.ImportFrom) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                imports[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                imports[top] = top
        return
    # A relative import keeps its dots, so it never matches a name the rules know.
    base = "." * node.level + (node.module or "")
    for alias in node.names:
        imports[alias.asname or alias.name] = f"{base}.{alias.name}"


def qualname(node: ast.expr, imports: dict[str, str]) -> str | None:
    """``node`` as a dotted name through the imports (``dt.now`` -> ``datetime.datetime.now``);
    a bare name that is not imported is a builtin (``builtins.print``). None if not a name."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    base = imports.get(node.id)
    if base is None:
        if parts:
            return None
        base = f"builtins.{node.id}"
    parts.append(base)
    return ".".join(reversed(parts))


def io_object_kind(call: ast.expr, imports: dict[str, str]) -> str | None:
    """ "HTTP" or "database" if ``call`` builds a client whose methods do I/O."""
    if not isinstance(call, ast.Call):
        return None
    name = qualname(call.func, imports)
    if name in catalog.HTTP_CLIENTS:
        return "HTTP"
    if name in catalog.DATABASE_CONNECTS:
        return "database"
    return None


def _last_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _event_class(node: ast.ClassDef) -> str | None:
    if not any(_last_name(base) == "EventData" for base in node.bases):
        return None
    for keyword in node.keywords:
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
            value = keyword.value.value
            return value if isinstance(value, str) else None
    return None


def _top_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """Statements run at import: the body, and the blocks of top-level ``if`` and ``try``."""
    out: list[ast.stmt] = []
    for stmt in body:
        out.append(stmt)
        if isinstance(stmt, ast.If):
            out.extend(_top_level([*stmt.body, *stmt.orelse]))
        elif isinstance(stmt, ast.Try):
            blocks = [*stmt.body, *stmt.orelse, *stmt.finalbody]
            for handler in stmt.handlers:
                blocks.extend(handler.body)
            out.extend(_top_level(blocks))
    return out


def module_info(path: str, tree: ast.Module) -> ModuleInfo:
    info = ModuleInfo(path, tree)
    statements = _top_level(tree.body)
    for stmt in statements:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            add_import(info.imports, stmt)
            roots = [a.name for a in stmt.names] if isinstance(stmt, ast.Import) else []
            if isinstance(stmt, ast.ImportFrom) and stmt.module and not stmt.level:
                roots.append(stmt.module)
            if any(r.split(".")[0] in ("stepwell", "inngest") for r in roots):
                info.uses_sdk = True
    for name, target in info.imports.items():
        if target in catalog.LOGGER_FACTORIES:
            info.loggers.add(name)
    for stmt in statements:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            info.helpers[stmt.name] = stmt
        elif isinstance(stmt, ast.ClassDef):
            event = _event_class(stmt)
            if event is not None:
                info.events[event] = stmt.name
        elif isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            value = stmt.value
            if isinstance(value, ast.Call) and (
                qualname(value.func, info.imports) in catalog.LOGGER_FACTORIES
            ):
                info.loggers.update(names)
            kind = io_object_kind(value, info.imports)
            if kind is not None:
                info.objects.update(dict.fromkeys(names, kind))
    return info


def nested_defs(body: list[ast.stmt]) -> dict[str, Def]:
    """Functions defined in ``body`` (at any depth of blocks, not inside other functions)."""
    found: dict[str, Def] = {}
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            found.setdefault(stmt.name, stmt)
            continue
        if isinstance(stmt, ast.ClassDef):
            continue
        for child in block_children(stmt):
            if isinstance(child, ast.stmt):
                stack.append(child)
            else:
                assert isinstance(child, ast.ExceptHandler | ast.match_case)
                stack.extend(child.body)
    return found


def bound_names(fn: Def) -> set[str]:
    """Names a function binds itself (parameters and assignments), which shadow module names:
    every ``Name`` stored to anywhere under it, nested functions and lambdas included."""
    args = fn.args
    names = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    for extra in (args.vararg, args.kwarg):
        if extra is not None:
            names.add(extra.arg)
    names |= store_names(fn)
    return names


def bound_in(info: ModuleInfo, fn: Def) -> set[str]:
    """``bound_names(fn)``, computed once a function (the walk asks from many scopes)."""
    found = info.bound.get(fn)
    if found is None:
        found = info.bound[fn] = bound_names(fn)
    return found
