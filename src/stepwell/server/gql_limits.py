"""Bounds on one GraphQL request, checked before any resolver runs.

A query is small to send and can be huge to answer: ``functions { app { functions { app … } } }``
multiplies the work at every list. So a document is refused (400) when it has too many tokens,
nests deeper than ``MAX_DEPTH`` or costs more than ``MAX_COST``. The cost counts each field once
per item its enclosing lists may hold: a list field with a ``first`` or ``limit`` argument (or a
``query: {limit: …}``) holds that many, any other list ``ASSUMED_LIST_SIZE``.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
)
from graphql.type.definition import GraphQLInterfaceType, GraphQLObjectType, GraphQLOutputType

MAX_BODY_BYTES = 256 * 1024
MAX_TOKENS = 5_000
MAX_DEPTH = 12
MAX_COST = 20_000
ASSUMED_LIST_SIZE = 10
MAX_LIST_SIZE = 1_000


class QueryTooCostly(ValueError):
    """The document asks for more than one request may; the message says which bound."""


@dataclass(slots=True)
class _Walk:
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    variables: dict[str, object]
    cost: int = 0
    depth: int = 0


def check_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, object] | None,
) -> None:
    """Raise ``QueryTooCostly`` if the operation to run nests too deep or costs too much.

    Run on a validated document (fragment cycles are refused by validation); the walk stops
    as soon as a bound is passed, so a fragment bomb costs no more than ``MAX_COST`` steps.
    """
    walk = _Walk(
        schema,
        {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)},
        dict(variables or {}),
    )
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if operation_name is not None and (
            definition.name is None or definition.name.value != operation_name
        ):
            continue
        root = (
            schema.mutation_type
            if definition.operation is OperationType.MUTATION
            else schema.query_type
        )
        if root is not None:
            _selections(walk, definition.selection_set, root, depth=1, multiplier=1)


def _selections(
    walk: _Walk,
    selection_set: SelectionSetNode,
    parent: GraphQLObjectType | GraphQLInterfaceType,
    *,
    depth: int,
    multiplier: int,
) -> None:
    if depth > MAX_DEPTH:
        raise QueryTooCostly(f"the query nests deeper than {MAX_DEPTH} levels")
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            _field(walk, selection, parent, depth=depth, multiplier=multiplier)
        elif isinstance(selection, InlineFragmentNode):
            _selections(walk, selection.selection_set, parent, depth=depth, multiplier=multiplier)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = walk.fragments.get(selection.name.value)
            if fragment is not None:
                target = walk.schema.get_type(fragment.type_condition.name.value)
                on = (
                    target if isinstance(target, GraphQLObjectType | GraphQLInterfaceType) else None
                )
                on = on or parent
                _selections(walk, fragment.selection_set, on, depth=depth, multiplier=multiplier)


def _field(
    walk: _Walk,
    node: FieldNode,
    parent: GraphQLObjectType | GraphQLInterfaceType,
    *,
    depth: int,
    multiplier: int,
) -> None:
    walk.cost += multiplier
    if walk.cost > MAX_COST:
        raise QueryTooCostly(
            f"the query would resolve more than {MAX_COST} fields; ask for fewer or smaller pages"
        )
    definition = parent.fields.get(node.name.value)
    if definition is None or node.selection_set is None:
        return
    field_type: GraphQLOutputType = definition.type
    if isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    size = _page_size(walk, node)
    if isinstance(field_type, GraphQLList):
        multiplier *= size or ASSUMED_LIST_SIZE
    elif size:
        multiplier *= size  # a connection (``runs(first: 40)``): its edges hold that many
    named = get_named_type(field_type)
    if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
        _selections(walk, node.selection_set, named, depth=depth + 1, multiplier=multiplier)


def _page_size(walk: _Walk, node: FieldNode) -> int | None:
    for argument in node.arguments or ():
        name = argument.name.value
        if name in ("first", "limit"):
            return _int(walk, argument.value)
        if name == "query" and isinstance(argument.value, ObjectValueNode):
            for field in argument.value.fields:
                if field.name.value == "limit":
                    return _int(walk, field.value)
    return None


def _int(walk: _Walk, value: object) -> int | None:
    raw: object = None
    if isinstance(value, IntValueNode):
        raw = int(value.value)
    elif isinstance(value, VariableNode):
        raw = walk.variables.get(value.name.value)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return max(1, min(raw, MAX_LIST_SIZE))
    return None
