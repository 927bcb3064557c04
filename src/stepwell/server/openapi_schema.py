"""The pieces ``openapi.py`` builds the server's OpenAPI document from: schema helpers, the
record schemas, and one operation's shape (``describe``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: Sequence[str] = (), **properties: Schema) -> Schema:
    return {"type": "object", "properties": properties, "required": list(required)}


def nullable(kind: str) -> Schema:
    return {"type": [kind, "null"]}


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
ANY: Schema = {}
NSTR, NOBJ = nullable("string"), nullable("object")
LIST_OF = {"type": "array", "items": STR}


def data_of(schema: Schema) -> Schema:
    return obj(["data"], data=schema)


def list_of(name: str) -> Schema:
    return data_of({"type": "array", "items": ref(name)})


SCHEMAS: dict[str, Schema] = {
    "Error": obj(["error"], error=STR, status=INT),
    "Event": obj(
        ["id", "internal_id", "name", "data"],
        id=STR,
        internal_id=STR,
        name=STR,
        data={"type": "object"},
        ts=INT,
        received_at=NSTR,
    ),
    "Run": obj(
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
    "RunV2": obj(
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
    "Span": obj(
        ["stepId", "name", "kind", "attempt", "status", "startedAt"],
        stepId=STR,
        name=STR,
        kind=STR,
        attempt=INT,
        status=STR,
        startedAt=NSTR,
        endedAt=NSTR,
        durationMs=nullable("integer"),
        queuedMs=INT,
        error=NOBJ,
        detail=NOBJ,
    ),
    "Job": obj(
        ["id", "kind", "run_id", "at", "attempt", "leased"],
        id=STR,
        kind=STR,
        run_id=STR,
        at=NSTR,
        attempt=INT,
        step_id=NSTR,
        leased=BOOL,
    ),
    "AppV2": obj(
        ["name", "url"], id=STR, name=STR, url=STR, syncedAt=NSTR, functionCount=INT, error=NSTR
    ),
    "FunctionV2": obj(
        ["id", "slug", "name", "appId", "paused"],
        id=STR,
        slug=STR,
        name=STR,
        appId=STR,
        url=NSTR,
        paused=BOOL,
        triggers={"type": "array"},
    ),
    "Cancellation": obj(
        ["id", "function_id", "cancelled_run_ids"],
        id=STR,
        function_id=STR,
        created_at=NSTR,
        cancelled_run_ids=LIST_OF,
    ),
    "Page": obj(["cursor", "hasMore", "limit"], cursor=NSTR, hasMore=BOOL, limit=INT),
}

TIME = {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer", "minimum": 0}]}
JSON_OBJECT = {"type": "object"}


def query_param(name: str, schema: Schema, *, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema}


LIMIT = query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000})
RUN_FILTERS = [
    query_param("function_id", STR),
    query_param("app_id", STR),
    query_param(
        "status",
        {"type": "string", "enum": ["Queued", "Running", "Completed", "Failed", "Cancelled"]},
    ),
    query_param("from", {"type": "string", "format": "date-time"}),
    query_param("until", {"type": "string", "format": "date-time"}),
    LIMIT,
    query_param("cursor", STR),
]


def describe(
    summary: str,
    ok: Schema | None,
    *,
    status: int = 200,
    query: Sequence[Schema] = (),
    body: Schema | None = None,
    body_required: bool = False,
    html: bool = False,
    protobuf: bool = False,
    media: str | None = None,
    errors: Schema | None = None,
) -> dict[str, Any]:
    content = {"text/html": {"schema": STR}} if html else {"application/json": {"schema": ok}}
    if media is not None:  # text answers: Prometheus' exposition, an SSE stream
        content = {media: {"schema": STR}}
    if protobuf:  # Connect's handshake answers a protobuf message
        content = {"application/protobuf": {"schema": STR}}
    responses: dict[str, Any] = {str(status): {"description": "done", "content": content}}
    responses["default"] = {
        "description": "refused: the error says what was wrong",
        "content": {"application/json": {"schema": errors or ref("Error")}},
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


OK = obj()
EVENT_BODY = obj(["name"], name=STR, data=JSON_OBJECT, id=STR, ts=INT)
WINDOW = {"started_after": TIME, "started_before": TIME}
GQL_ANSWER = {"type": "object"}
