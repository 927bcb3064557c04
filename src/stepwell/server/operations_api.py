"""Operating on runs and functions over HTTP: bulk cancellation (``POST /v1/cancellations``,
kept and listed with ``GET``, forgotten with ``DELETE /v1/cancellations/{id}``),
rerun (``/v1`` and ``/v2/runs/{id}/rerun``), and pause, resume and replay of a function
(``/v1/functions/{id}/…``). The engine does the work (its ``Lifecycle``, one commit each).

Each handler reads and checks its whole request first; only then does it ask the engine to act,
so a refused request changes nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stepwell.core.expressions import ExpressionError, compile_expression
from stepwell.server.http import (
    RequestRefused,
    error,
    json_response,
    optional_string,
    query_limit,
    read_object,
    time_ms,
)
from stepwell.server.rest_shapes import iso
from stepwell.server.runtime import ServerRuntime


def _cancellation(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item.get("id"),
        "function_id": item.get("function_id"),
        "started_after": item.get("started_after"),
        "started_before": item.get("started_before"),
        "if": item.get("if"),
        "created_at": iso(item.get("created_at")),
        "cancelled_run_ids": list(item.get("cancelled_run_ids") or []),
    }


def routes(runtime: ServerRuntime) -> list[Route]:
    engine = runtime.engine

    async def cancellations(request: Request) -> Response:
        """``POST /v1/cancellations``: cancel a function's runs in a window, optionally
        filtered by a CEL expression over ``event``."""
        body = await read_object(request, optional=True)
        app_id = optional_string(body, "app_id")
        function_id = optional_string(body, "function_id", "function_slug")
        if not function_id:
            raise RequestRefused("function_id: the function's id is required")
        if app_id and not function_id.startswith(f"{app_id}-"):
            function_id = f"{app_id}-{function_id}"
        condition = optional_string(body, "if")
        if condition is not None:
            try:
                compile_expression(condition)
            except ExpressionError as exc:
                raise RequestRefused(f"if: {exc}") from None
        after = time_ms("started_after", body.get("started_after"))
        before = time_ms("started_before", body.get("started_before"))
        record = {
            "id": str(uuid.uuid4()),
            "function_id": function_id,
            "started_after": body.get("started_after"),
            "started_before": body.get("started_before"),
            "if": condition,
        }
        try:
            cancelled = await engine.lifecycle.cancel_many(
                function_id,
                started_after=after,
                started_before=before,
                condition=condition,
                record=record,
            )
        except LookupError as exc:
            return error(404, str(exc))
        return json_response({**record, "cancelled_run_ids": cancelled})

    async def list_cancellations(request: Request) -> Response:
        """``GET /v1/cancellations``: the bulk cancellations kept, newest first."""
        limit = query_limit(request)
        items = await engine.lifecycle.list_cancellations()
        return json_response({"data": [_cancellation(item) for item in items[:limit]]})

    async def delete_cancellation(request: Request) -> Response:
        """``DELETE /v1/cancellations/{id}``: forget one (its runs stay cancelled)."""
        cancellation_id = request.path_params["cancellation_id"]
        if not await engine.lifecycle.delete_cancellation(cancellation_id):
            return error(404, f"no cancellation with id {cancellation_id!r}")
        return json_response({"data": {"id": cancellation_id, "deleted": True}})

    async def rerun(request: Request) -> Response:
        body = await read_object(request, optional=True)
        from_step = optional_string(body, "from_step", "fromStep")
        try:
            run_id = await engine.rerun(request.path_params["run_id"], from_step=from_step)
        except LookupError as exc:
            return error(404, str(exc))
        except RuntimeError as exc:
            return error(409, str(exc))
        return json_response({"data": {"run_id": run_id}})

    def _function(request: Request) -> str:
        return str(request.path_params["function_id"])

    async def pause(request: Request) -> Response:
        try:
            await engine.pause_function(_function(request))
        except LookupError as exc:
            return error(404, str(exc))
        return json_response({"data": {"function_id": _function(request), "paused": True}})

    async def resume(request: Request) -> Response:
        try:
            await engine.resume_function(_function(request))
        except LookupError as exc:
            return error(404, str(exc))
        return json_response({"data": {"function_id": _function(request), "paused": False}})

    async def replay(request: Request) -> Response:
        body = await read_object(request, optional=True)
        after = time_ms("received_after", body.get("received_after"))
        if after is None:
            raise RequestRefused("received_after: the start of the window is required")
        before = time_ms("received_before", body.get("received_before"))
        try:
            run_ids = await engine.replay(
                _function(request), received_after=after, received_before=before
            )
        except LookupError as exc:
            return error(404, str(exc))
        return json_response({"data": {"run_ids": run_ids}})

    return [
        Route("/v1/cancellations", cancellations, methods=["POST"]),
        Route("/v1/cancellations", list_cancellations, methods=["GET"]),
        Route("/v1/cancellations/{cancellation_id}", delete_cancellation, methods=["DELETE"]),
        Route("/v1/runs/{run_id}/rerun", rerun, methods=["POST"]),
        Route("/v2/runs/{run_id}/rerun", rerun, methods=["POST"]),
        Route("/v1/functions/{function_id}/pause", pause, methods=["POST"]),
        Route("/v1/functions/{function_id}/resume", resume, methods=["POST"]),
        Route("/v1/functions/{function_id}/replay", replay, methods=["POST"]),
    ]
