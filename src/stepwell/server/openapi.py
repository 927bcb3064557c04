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
from stepwell.server.openapi_schema import (
    ANY,
    BOOL,
    EVENT_BODY,
    GQL_ANSWER,
    INT,
    JSON_OBJECT,
    LIMIT,
    LIST_OF,
    NSTR,
    OK,
    RUN_FILTERS,
    SCHEMAS,
    STR,
    TIME,
    WINDOW,
    data_of,
    describe,
    list_of,
    obj,
    query_param,
    ref,
)

OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/health"): describe(
        "Whether the database answers",
        obj(["status"], status=INT),
        errors=obj(["status"], status=INT, message=STR),
    ),
    ("POST", "/e/{key}"): describe(
        "Send events",
        obj(["ids"], ids=LIST_OF),
        body={"oneOf": [EVENT_BODY, {"type": "array", "items": EVENT_BODY}]},
        body_required=True,
    ),
    ("POST", "/e/"): describe(
        "Send events (key in a header)",
        obj(["ids"], ids=LIST_OF),
        body={"oneOf": [EVENT_BODY, {"type": "array", "items": EVENT_BODY}]},
        body_required=True,
    ),
    ("POST", "/invoke/{slug}"): describe("Invoke a function by slug", OK, body=JSON_OBJECT),
    ("POST", "/fn/register"): describe(
        "An SDK registers its app", OK, body=JSON_OBJECT, body_required=True
    ),
    ("DELETE", "/fn/remove"): describe(
        "Remove the apps served at a URL", OK, query=[query_param("url", STR, required=True)]
    ),
    ("GET", "/dev"): describe("Dev server information (dev mode only)", OK),
    ("GET", "/v1/apps/{app}/functions"): describe("An app and its functions", data_of(OK)),
    ("POST", "/v0/gql"): describe(
        "GraphQL",
        GQL_ANSWER,
        body=obj(["query"], query=STR),
        body_required=True,
        errors=GQL_ANSWER,
    ),
    ("GET", "/v0"): describe("GraphQL playground", None, html=True),
    ("POST", "/v0/connect/start"): describe(
        "A Connect worker asks where to connect", OK, protobuf=True, errors=JSON_OBJECT
    ),
    ("POST", "/v0/connect/flush"): describe(
        "A Connect worker hands over a result", OK, protobuf=True, errors=JSON_OBJECT
    ),
    ("GET", "/v0/connect/workers"): describe("Connected workers", OK),
    ("GET", "/v1/events"): describe(
        "Events, newest first",
        list_of("Event"),
        query=[
            query_param("name", STR),
            LIMIT,
            query_param("cursor", STR),
            query_param("received_after", TIME),
            query_param("received_before", TIME),
        ],
    ),
    ("GET", "/v1/events/{event_id}"): describe("An event", data_of(ref("Event"))),
    ("GET", "/v1/events/{event_id}/runs"): describe("The runs an event started", list_of("Run")),
    ("GET", "/v1/runs"): describe(
        "Runs, newest first, filtered and paged",
        {
            **list_of("Run"),
            "properties": {**list_of("Run")["properties"], "cursor": NSTR, "has_more": BOOL},
        },
        query=RUN_FILTERS,
    ),
    ("GET", "/v1/runs/{run_id}"): describe("A run", data_of(ref("Run"))),
    ("DELETE", "/v1/runs/{run_id}"): describe("Cancel a run", data_of(ref("Run"))),
    ("DELETE", "/v0/runs/{run_id}"): describe("Cancel a run (v0)", data_of(ref("Run"))),
    ("GET", "/v1/runs/{run_id}/jobs"): describe("The run's queued work", list_of("Job")),
    ("GET", "/v0/runs/{run_id}/batch"): describe("The run's events (SDK)", {"type": "array"}),
    ("GET", "/v0/runs/{run_id}/actions"): describe("The run's memo (SDK)", JSON_OBJECT),
    ("POST", "/v1/signals"): describe(
        "Send a signal", data_of(OK), body=obj(["signal"], signal=STR, data=ANY), body_required=True
    ),
    ("GET", "/metrics"): describe("Prometheus metrics", None, media="text/plain"),
    # Durable endpoints (the TS SDK's HTTP handlers), under both of Inngest's prefixes.
    **{
        (method, prefix + tail): describe(summary, ANY, body=body)  # the handler's own answer
        for prefix in ("/v1/checkpoint", "/v1/http/runs")
        for method, tail, summary, body in (
            ("POST", "", "Start a durable endpoint's run (SDK)", JSON_OBJECT),
            ("POST", "/{run_id}/steps", "Checkpoint a durable endpoint's steps (SDK)", JSON_OBJECT),
            ("GET", "/{run_id}/output", "A durable endpoint's result, by its run token", None),
        )
    },
    ("GET", "/v1/realtime/sse"): describe(
        "A durable endpoint's result as server-sent events", None, media="text/event-stream"
    ),
    ("POST", "/v1/realtime/publish/tee"): describe(
        "What a durable endpoint streams in its asynchronous phase (SDK)", ANY
    ),
    ("GET", "/v1/runs/{run_id}/metadata"): describe("The run's metadata", ANY),
    ("POST", "/v1/runs/{run_id}/metadata"): describe("Add run metadata", ANY, body=JSON_OBJECT),
    ("POST", "/v2/runs/{run_id}/scores"): describe("Score a run", ANY, body=JSON_OBJECT),
    ("POST", "/v1/checkpoint/{run_id}/async"): describe(
        "Checkpoint steps (SDK)",
        OK,
        body=obj(["steps"], steps={"type": "array"}),
        body_required=True,
    ),
    ("POST", "/v1/cancellations"): describe(
        "Cancel a function's runs in a window",
        ref("Cancellation"),
        body=obj(["function_id"], function_id=STR, app_id=STR, **{"if": STR}, **WINDOW),
        body_required=True,
    ),
    ("GET", "/v1/cancellations"): describe(
        "Bulk cancellations kept, newest first", list_of("Cancellation"), query=[LIMIT]
    ),
    ("DELETE", "/v1/cancellations/{cancellation_id}"): describe(
        "Forget a bulk cancellation", data_of(OK)
    ),
    ("POST", "/v1/runs/{run_id}/rerun"): describe(
        "Rerun a run", data_of(OK), body=obj(from_step=STR)
    ),
    ("POST", "/v2/runs/{run_id}/rerun"): describe(
        "Rerun a run", data_of(OK), body=obj(from_step=STR)
    ),
    ("POST", "/v1/functions/{function_id}/pause"): describe("Pause a function", data_of(OK)),
    ("POST", "/v1/functions/{function_id}/resume"): describe("Resume a function", data_of(OK)),
    ("POST", "/v1/functions/{function_id}/replay"): describe(
        "Start runs for a function's events in a window",
        data_of(OK),
        body=obj(["received_after"], received_after=TIME, received_before=TIME),
        body_required=True,
    ),
    ("GET", "/v2/runs"): describe(
        "Runs, newest first, filtered and paged",
        {
            **list_of("RunV2"),
            "properties": {**list_of("RunV2")["properties"], "page": ref("Page")},
            "required": ["data", "page"],
        },
        query=RUN_FILTERS,
    ),
    ("GET", "/v2/runs/{run_id}"): describe("A run", data_of(ref("RunV2"))),
    ("GET", "/v2/runs/{run_id}/trace"): describe(
        "A run and its step attempts",
        data_of(
            obj(["run", "spans"], run=ref("RunV2"), spans={"type": "array", "items": ref("Span")})
        ),
    ),
    ("POST", "/v2/runs/{run_id}/cancel"): describe("Cancel a run", data_of(ref("RunV2"))),
    ("GET", "/v2/apps"): describe("Synced apps", list_of("AppV2")),
    ("POST", "/v2/apps"): describe(
        "Sync the app at a URL now", data_of(OK), body=obj(["url"], url=STR), body_required=True
    ),
    ("DELETE", "/v2/apps/{app}"): describe("Remove an app", data_of(OK)),
    ("GET", "/v2/apps/{app}/functions"): describe("An app's functions", list_of("FunctionV2")),
    ("POST", "/v2/apps/{app}/functions/{fn}/invoke"): describe(
        "Invoke a function; with wait=true, answer its run's output",
        data_of(OK),
        query=[
            query_param("wait", BOOL),
            query_param("timeout", {"type": "number", "exclusiveMinimum": 0, "maximum": 300}),
        ],
        body=obj(data=JSON_OBJECT, user=JSON_OBJECT),
    ),
    ("GET", "/openapi.json"): describe("This document", JSON_OBJECT),
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
