"""The GraphQL API (protocol.md §8.1): ``POST /v0/gql``, and a small playground at ``GET /v0``.

Schema-first: the SDL is ``schema.graphql`` beside this module; the root fields are bound to
the resolvers of ``gql_resolvers`` and every other field is read off the objects of
``gql_nodes``. Refusals come back in the response's ``errors``; a request that cannot run at
all (bad JSON, a query that does not parse or validate, bad variables) is answered 400.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from graphql import (
    GraphQLError,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    ValueNode,
    build_schema,
    execute,
    parse,
    validate,
    value_from_ast_untyped,
)
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from stepwell.server.gql_limits import MAX_BODY_BYTES, MAX_TOKENS, QueryTooCostly, check_cost
from stepwell.server.gql_nodes import GqlContext
from stepwell.server.gql_resolvers import RESOLVERS
from stepwell.server.http import RequestRefused, StoredJSONResponse, parse_json, read_body
from stepwell.server.runtime import ServerRuntime


@cache
def load_schema() -> GraphQLSchema:
    """The SDL with the resolvers bound; refuses to start if the two disagree."""
    sdl = resources.files("stepwell.server").joinpath("schema.graphql").read_text("utf-8")
    schema = build_schema(sdl)
    _check_scalars(schema)
    for type_name, fields in RESOLVERS.items():
        graphql_type = schema.get_type(type_name)
        if not isinstance(graphql_type, GraphQLObjectType):
            raise TypeError(f"schema.graphql has no object type {type_name}")
        for field_name, resolver in fields.items():
            graphql_type.fields[field_name].resolve = resolver
    return schema


MAX_ID_LENGTH = 128


def _string_scalar(name: str) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if not isinstance(value, str):
            raise GraphQLError(f"{name}: expected a string, got {type(value).__name__}")
        if len(value) > MAX_ID_LENGTH:
            raise GraphQLError(f"{name}: longer than {MAX_ID_LENGTH} characters")
        return value

    return parse


def _map_scalar(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise GraphQLError(f"Map: expected an object, got {type(value).__name__}")
    return value


def _check_scalars(schema: GraphQLSchema) -> None:
    """Custom scalars pass anything through unless told otherwise: ids and times must be
    strings, maps objects, before a resolver sees them."""
    checks: dict[str, Callable[[Any], Any]] = {
        "ULID": _string_scalar("ULID"),
        "UUID": _string_scalar("UUID"),
        "Time": _string_scalar("Time"),
        "Bytes": _string_scalar("Bytes"),
        "Map": _map_scalar,
    }
    for name, check in checks.items():
        scalar = schema.get_type(name)
        if not isinstance(scalar, GraphQLScalarType):
            raise TypeError(f"schema.graphql has no scalar {name}")
        # graphql-core 3.3 reads coerce_input_value (copied from parse_value at creation).
        scalar.parse_value = scalar.coerce_input_value = check  # type: ignore[method-assign, assignment]
        scalar.parse_literal = _literal(check)  # type: ignore[method-assign]


def _literal(check: Callable[[Any], Any]) -> Callable[..., Any]:
    def parse(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
        return check(value_from_ast_untyped(node, variables))

    return parse


# -- HTTP -------------------------------------------------------------------------------------


def _errors(status: int, *messages: str) -> Response:
    return JSONResponse({"errors": [{"message": m} for m in messages]}, status_code=status)


async def run_query(
    runtime: ServerRuntime, query: str, variables: dict[str, Any] | None, operation: str | None
) -> tuple[int, dict[str, Any]]:
    """Run one GraphQL request; returns the HTTP status and the response body."""
    schema = load_schema()
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
        invalid = validate(schema, document)
    except GraphQLError as exc:
        return 400, {"errors": [exc.formatted]}
    except RecursionError:
        return 400, {"errors": [{"message": "the query is nested too deeply to parse"}]}
    if invalid:
        return 400, {"errors": [error.formatted for error in invalid]}
    try:
        check_cost(schema, document, operation, variables)
    except QueryTooCostly as exc:
        return 400, {"errors": [{"message": str(exc)}]}
    result = execute(
        schema,
        document,
        context_value=GqlContext(runtime),
        variable_values=variables,
        operation_name=operation,
    )
    if inspect.isawaitable(result):
        result = await result
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
        # Errors without a path stopped the request before any field ran (e.g. variables).
        if result.data is None and not any(error.path for error in result.errors):
            return 400, body
    return 200, body


def routes(runtime: ServerRuntime) -> list[Route]:
    load_schema()  # a broken schema fails at startup, not at the first query

    async def endpoint(request: Request) -> Response:
        try:
            payload = parse_json(await read_body(request, MAX_BODY_BYTES))
        except RequestRefused as exc:
            return _errors(exc.status, exc.message)
        if not isinstance(payload, dict):
            return _errors(400, "Invalid request: expected a JSON object with a 'query'")
        query, variables = payload.get("query"), payload.get("variables")
        operation = payload.get("operationName")
        if not isinstance(query, str) or not query.strip():
            return _errors(400, "query: a GraphQL query string is required")
        if variables is not None and not isinstance(variables, dict):
            return _errors(400, "variables: expected a JSON object")
        if operation is not None and not isinstance(operation, str):
            return _errors(400, "operationName: expected a string")
        status, body = await run_query(runtime, query, variables, operation)
        return StoredJSONResponse(body, status_code=status)

    async def playground(request: Request) -> Response:
        if not runtime.config.dev:
            return _errors(404, "not found")
        return HTMLResponse(PLAYGROUND)

    return [
        Route("/v0/gql", endpoint, methods=["POST"]),
        Route("/v0", playground, methods=["GET"]),
    ]


PLAYGROUND = """<!doctype html>
<html><head><meta charset="utf-8"><title>Stepwell GraphQL</title>
<style>body{font:14px system-ui;margin:1em}textarea,pre{width:100%;box-sizing:border-box;
font:13px monospace}textarea{height:14em}pre{background:#f4f4f4;padding:.5em;min-height:8em}
</style></head><body>
<h1>Stepwell GraphQL</h1>
<p>POST /v0/gql &middot; the schema is in <code>stepwell/server/schema.graphql</code></p>
<textarea id="q">{ stream(query: {limit: 10}) { id trigger runs { id status function { name } } } }
</textarea>
<p>Variables (JSON): <input id="v" size="60" value="{}"> <button id="go">Run</button></p>
<pre id="out"></pre>
<script>
document.getElementById("go").onclick = async () => {
  const out = document.getElementById("out");
  try {
    const res = await fetch("/v0/gql", {method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({query: document.getElementById("q").value,
                            variables: JSON.parse(document.getElementById("v").value || "{}")})});
    out.textContent = JSON.stringify(await res.json(), null, 2);
  } catch (e) { out.textContent = String(e); }
};
</script></body></html>
"""
