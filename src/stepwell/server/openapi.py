"""The OpenAPI 3.1 document of the server's API, at ``GET /openapi.json``.

Every route of ``create_app``'s API is described here (a test walks the router and fails on a
route missing from ``OPERATIONS``; Schemathesis checks answers against it). The dashboard and
apps mounted on the port (``--app``) are not part of the API and are left out. Schemas name
what the API promises and let records carry more fields than listed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import stepwell
from stepwell.server.http import json_response

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: Sequence[str] = (), **properties: Schema) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required)}


def _nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
ANY: Schema = {}
NSTR, NOBJ = _nullable("string"), _nullable("object")
LIST_OF = {"type": "array", "items": STR}


def _data(schema: Schema) -> Schema:
    return _obj(["data"], data=schema)


def _list(name: str) -> Schema:
    return _data({"type": "array", "items": _ref(name)})


SCHEMAS: dict[str, Schema] = {
    "Error": _obj(["error"], error=STR, status=INT),
    "Event": _obj(
        ["id", "internal_id", "name", "data"],
        id=STR,
        internal_id=STR,
        name=STR,
        data={"type": "object"},
        ts=INT,
        received_at=NSTR,
    ),
    "Run": _obj(
        ["run_id", "status", "function_slug"],
        run_id=STR,
        status=STR,
        function_slug=STR,
        function_id=NSTR,
        event_id=NSTR,
        run_started_at=NSTR,
        ended_at=NSTR,
        output=ANY,
    ),
    "RunV2": _obj(
        ["id", "appId", "functionId", "status", "eventIds", "queuedAt"],
        id=STR,
        appId=STR,
        functionId=STR,
        status=STR,
        eventIds=LIST_OF,
        queuedAt=NSTR,
        startedAt=NSTR,
        endedAt=NSTR,
        output=ANY,
        error=NOBJ,
    ),
    "Span": _obj(
        ["stepId", "name", "kind", "attempt", "status", "startedAt"],
        stepId=STR,
        name=STR,
        kind=STR,
        attempt=INT,
        status=STR,
        startedAt=NSTR,
        endedAt=NSTR,
        durationMs=_nullable("integer"),
        queuedMs=INT,
        error=NOBJ,
        detail=NOBJ,
    ),
    "Job": _obj(
        ["id", "kind", "run_id", "at", "attempt", "leased"],
        id=STR,
        kind=STR,
        run_id=STR,
        at=NSTR,
        attempt=INT,
        step_id=NSTR,
        leased=BOOL,
    ),
    "AppV2": _obj(
        ["name", "url"], id=STR, name=STR, url=STR, syncedAt=NSTR, functionCount=INT, error=NSTR
    ),
    "FunctionV2": _obj(
        ["id", "slug", "name", "appId", "paused"],
        id=STR,
        slug=STR,
        name=STR,
        appId=STR,
        url=NSTR,
        paused=BOOL,
        triggers={"type": "array"},
    ),
    "Cancellation": _obj(
        ["id", "function_id", "cancelled_run_ids"],
        id=STR,
        function_id=STR,
        created_at=NSTR,
        cancelled_run_ids=LIST_OF,
    ),
    "Page": _obj(["cursor", "hasMore", "limit"], cursor=NSTR, hasMore=BOOL, limit=INT),
}

TIME = {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer", "minimum": 0}]}
JSON_OBJECT = {"type": "object"}


def _q(name: str, schema: Schema, *, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema}


LIMIT = _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000})
RUN_FILTERS = [
    _q("function_id", STR),
    _q("app_id", STR),
    _q(
        "status",
        {"type": "string", "enum": ["Queued", "Running", "Completed", "Failed", "Cancelled"]},
    ),
    _q("from", {"type": "string", "format": "date-time"}),
    _q("until", {"type": "string", "format": "date-time"}),
    LIMIT,
    _q("cursor", STR),
]


def _op(
    summary: str,
    ok: Schema | None,
    *,
    status: int = 200,
    query: Sequence[Schema] = (),
    body: Schema | None = None,
    body_required: bool = False,
    html: bool = False,
    protobuf: bool = False,
    errors: Schema | None = None,
) -> dict[str, Any]:
    content = {"text/html": {"schema": STR}} if html else {"application/json": {"schema": ok}}
    if protobuf:  # Connect's handshake answers a protobuf message
        content = {"application/protobuf": {"schema": STR}}
    responses: dict[str, Any] = {str(status): {"description": "done", "content": content}}
    responses["default"] = {
        "description": "refused: the error says what was wrong",
        "content": {"application/json": {"schema": errors or _ref("Error")}},
    }
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if query:
        operation["parameters"] = list(query)
    if body is not None:
        operation["requestBody"] = {
            "required": body_required,
            "content": {"application/json": {"schema": body}},
        }
    return operation


OK = _obj()
EVENT_BODY = _obj(["name"], name=STR, data=JSON_OBJECT, id=STR, ts=INT)
WINDOW = {"started_after": TIME, "started_before": TIME}
GQL_ANSWER = {"type": "object"}

OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/health"): _op(
        "Whether the database answers",
        _obj(["status"], status=INT),
        errors=_obj(["status"], status=INT, message=STR),
    ),
    ("POST", "/e/{key}"): _op(
        "Send events",
        _obj(["ids"], ids=LIST_OF),
        body={"oneOf": [EVENT_BODY, {"type": "array", "items": EVENT_BODY}]},
        body_required=True,
    ),
    ("POST", "/e/"): _op(
        "Send events (key in a header)",
        _obj(["ids"], ids=LIST_OF),
        body={"oneOf": [EVENT_BODY, {"type": "array", "items": EVENT_BODY}]},
        body_required=True,
    ),
    ("POST", "/invoke/{slug}"): _op("Invoke a function by slug", OK, body=JSON_OBJECT),
    ("POST", "/fn/register"): _op(
        "An SDK registers its app", OK, body=JSON_OBJECT, body_required=True
    ),
    ("DELETE", "/fn/remove"): _op(
        "Remove the apps served at a URL", OK, query=[_q("url", STR, required=True)]
    ),
    ("GET", "/dev"): _op("Dev server information (dev mode only)", OK),
    ("GET", "/v1/apps/{app}/functions"): _op("An app and its functions", _data(OK)),
    ("POST", "/v0/gql"): _op(
        "GraphQL",
        GQL_ANSWER,
        body=_obj(["query"], query=STR),
        body_required=True,
        errors=GQL_ANSWER,
    ),
    ("GET", "/v0"): _op("GraphQL playground", None, html=True),
    ("POST", "/v0/connect/start"): _op(
        "A Connect worker asks where to connect", OK, protobuf=True, errors=JSON_OBJECT
    ),
    ("POST", "/v0/connect/flush"): _op(
        "A Connect worker hands over a result", OK, protobuf=True, errors=JSON_OBJECT
    ),
    ("GET", "/v0/connect/workers"): _op("Connected workers", OK),
    ("GET", "/v1/events"): _op(
        "Events, newest first",
        _list("Event"),
        query=[
            _q("name", STR),
            LIMIT,
            _q("cursor", STR),
            _q("received_after", TIME),
            _q("received_before", TIME),
        ],
    ),
    ("GET", "/v1/events/{event_id}"): _op("An event", _data(_ref("Event"))),
    ("GET", "/v1/events/{event_id}/runs"): _op("The runs an event started", _list("Run")),
    ("GET", "/v1/runs"): _op(
        "Runs, newest first, filtered and paged",
        {
            **_list("Run"),
            "properties": {**_list("Run")["properties"], "cursor": NSTR, "has_more": BOOL},
        },
        query=RUN_FILTERS,
    ),
    ("GET", "/v1/runs/{run_id}"): _op("A run", _data(_ref("Run"))),
    ("DELETE", "/v1/runs/{run_id}"): _op("Cancel a run", _data(_ref("Run"))),
    ("DELETE", "/v0/runs/{run_id}"): _op("Cancel a run (v0)", _data(_ref("Run"))),
    ("GET", "/v1/runs/{run_id}/jobs"): _op("The run's queued work", _list("Job")),
    ("GET", "/v0/runs/{run_id}/batch"): _op("The run's events (SDK)", {"type": "array"}),
    ("GET", "/v0/runs/{run_id}/actions"): _op("The run's memo (SDK)", JSON_OBJECT),
    ("POST", "/v1/signals"): _op(
        "Send a signal", _data(OK), body=_obj(["signal"], signal=STR, data=ANY), body_required=True
    ),
    ("POST", "/v1/checkpoint/{run_id}/async"): _op(
        "Checkpoint steps (SDK)",
        OK,
        body=_obj(["steps"], steps={"type": "array"}),
        body_required=True,
    ),
    ("POST", "/v1/cancellations"): _op(
        "Cancel a function's runs in a window",
        _ref("Cancellation"),
        body=_obj(["function_id"], function_id=STR, app_id=STR, **{"if": STR}, **WINDOW),
        body_required=True,
    ),
    ("GET", "/v1/cancellations"): _op(
        "Bulk cancellations kept, newest first", _list("Cancellation"), query=[LIMIT]
    ),
    ("DELETE", "/v1/cancellations/{cancellation_id}"): _op("Forget a bulk cancellation", _data(OK)),
    ("POST", "/v1/runs/{run_id}/rerun"): _op("Rerun a run", _data(OK), body=_obj(from_step=STR)),
    ("POST", "/v2/runs/{run_id}/rerun"): _op("Rerun a run", _data(OK), body=_obj(from_step=STR)),
    ("POST", "/v1/functions/{function_id}/pause"): _op("Pause a function", _data(OK)),
    ("POST", "/v1/functions/{function_id}/resume"): _op("Resume a function", _data(OK)),
    ("POST", "/v1/functions/{function_id}/replay"): _op(
        "Start runs for a function's events in a window",
        _data(OK),
        body=_obj(["received_after"], received_after=TIME, received_before=TIME),
        body_required=True,
    ),
    ("GET", "/v2/runs"): _op(
        "Runs, newest first, filtered and paged",
        {
            **_list("RunV2"),
            "properties": {**_list("RunV2")["properties"], "page": _ref("Page")},
            "required": ["data", "page"],
        },
        query=RUN_FILTERS,
    ),
    ("GET", "/v2/runs/{run_id}"): _op("A run", _data(_ref("RunV2"))),
    ("GET", "/v2/runs/{run_id}/trace"): _op(
        "A run and its step attempts",
        _data(
            _obj(
                ["run", "spans"], run=_ref("RunV2"), spans={"type": "array", "items": _ref("Span")}
            )
        ),
    ),
    ("POST", "/v2/runs/{run_id}/cancel"): _op("Cancel a run", _data(_ref("RunV2"))),
    ("GET", "/v2/apps"): _op("Synced apps", _list("AppV2")),
    ("POST", "/v2/apps"): _op(
        "Sync the app at a URL now", _data(OK), body=_obj(["url"], url=STR), body_required=True
    ),
    ("DELETE", "/v2/apps/{app}"): _op("Remove an app", _data(OK)),
    ("GET", "/v2/apps/{app}/functions"): _op("An app's functions", _list("FunctionV2")),
    ("POST", "/v2/apps/{app}/functions/{fn}/invoke"): _op(
        "Invoke a function; with wait=true, answer its run's output",
        _data(OK),
        query=[
            _q("wait", BOOL),
            _q("timeout", {"type": "number", "exclusiveMinimum": 0, "maximum": 300}),
        ],
        body=_obj(data=JSON_OBJECT, user=JSON_OBJECT),
    ),
    ("GET", "/openapi.json"): _op("This document", JSON_OBJECT),
}
ACCEPTED = {("POST", "/v2/apps/{app}/functions/{fn}/invoke")}
"""Operations that may also answer 202 (the work goes on)."""


def document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), operation in OPERATIONS.items():
        operation = dict(operation)
        names = [part[1:-1] for part in path.split("/") if part.startswith("{")]
        if names:
            parameters = [{"name": n, "in": "path", "required": True, "schema": STR} for n in names]
            operation["parameters"] = parameters + list(operation.get("parameters", []))
        if (method, path) in ACCEPTED:
            operation["responses"] = {
                "202": operation["responses"]["200"],
                **operation["responses"],
            }
        operation["operationId"] = f"{method.lower()} {path}"
        operation["security"] = [] if (method, path) in PUBLIC else [{"signingKey": []}]
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Stepwell server API", "version": stepwell.__version__},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"signingKey": {"type": "http", "scheme": "bearer"}},
        },
    }


PUBLIC = {("GET", "/health"), ("POST", "/e/{key}"), ("POST", "/e/")}
"""Answered without the signing key in production (the event API checks event keys)."""


def route(routes: Sequence[BaseRoute]) -> Route:
    cached: list[dict[str, Any]] = []

    async def openapi(request: Request) -> Response:
        if not cached:
            cached.append(document(routes))
        return json_response(cached[0])

    return Route("/openapi.json", openapi, methods=["GET"])
