"""Fast traversal of ``ast`` trees, for the walks the rules make over every function.

``ast.iter_child_nodes`` and ``ast.walk`` go through ``ast.iter_fields`` (a generator per node,
every field looked up and type-checked); here each node class has a table of the fields that
can hold nodes, in ``_fields`` order, so the children come in the same order as
``iter_child_nodes`` gives them. Left out are the fields that never hold a node the rules look
at: identifiers, flags and numbers, and the expression context, operator and comparison
singletons (``Load``, ``Add``...), which have nothing under them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

# Fields that hold an identifier, a number, a flag or an operator/context singleton: no node.
_NOT_NODES = frozenset(
    {"ctx", "op", "ops", "id", "arg", "attr", "module", "level", "kind", "type_comment",
     "conversion", "is_async", "simple", "asname", "kwd_attrs", "tag", "lineno"}
)  # fmt: skip
# The fields of a statement that hold statements, handlers or match cases.
_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")

_FIELDS: dict[type, tuple[str, ...]] = {}
_BLOCKS: dict[type, tuple[str, ...]] = {}


def node_fields(cls: type) -> tuple[str, ...]:
    """The fields of node class ``cls`` that can hold nodes, in ``_fields`` order."""
    found = _FIELDS.get(cls)
    if found is None:
        names: tuple[str, ...] = getattr(cls, "_fields", ())
        found = () if cls is ast.Constant else tuple(f for f in names if f not in _NOT_NODES)
        _FIELDS[cls] = found
    return found


def _fill(cls: type) -> None:
    sub: type
    for sub in cls.__subclasses__():
        node_fields(sub)
        _fill(sub)


_fill(ast.AST)


def child_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes directly under ``node`` that rules look at, as ``ast.iter_child_nodes``."""
    for name in _FIELDS.get(type(node)) or node_fields(type(node)):
        value = getattr(node, name, None)
        if type(value) is list:
            for item in value:
                if isinstance(item, ast.AST):
                    yield item
        elif isinstance(value, ast.AST):
            yield value


def block_children(stmt: ast.AST) -> Iterator[ast.AST]:
    """The statements, exception handlers and match cases directly under ``stmt``, in the order
    ``ast.iter_child_nodes`` gives them (only these fields of a statement hold any)."""
    cls = type(stmt)
    blocks = _BLOCKS.get(cls)
    if blocks is None:
        blocks = _BLOCKS[cls] = tuple(f for f in node_fields(cls) if f in _BLOCK_FIELDS)
    for name in blocks:
        value = getattr(stmt, name, None)
        if type(value) is list:
            for item in value:
                if isinstance(item, ast.stmt | ast.ExceptHandler | ast.match_case):
                    yield item


def store_names(root: ast.AST) -> set[str]:
    """The ids of every ``Name`` stored to under ``root`` (as ``ast.walk`` would find them,
    nested functions and lambdas included)."""
    names: set[str] = set()
    stack: list[Any] = [root]  # nodes, and what lists of nodes also hold (str, None)
    pop, push, extend = stack.pop, stack.append, stack.extend
    fields = _FIELDS
    while stack:
        node = pop()
        cls = type(node)
        if cls is ast.Name:
            if type(node.ctx) is ast.Store:
                names.add(node.id)
            continue
        found = fields.get(cls)
        if found is None:
            if not isinstance(node, ast.AST):
                continue  # an identifier in a list (``global a, b``) or a ``None`` dict key
            found = node_fields(cls)
        for name in found:
            value = getattr(node, name, None)
            if type(value) is list:
                extend(value)
            elif value is not None:
                push(value)
    return names
