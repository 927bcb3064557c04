"""Operating over HTTP (issue: lifecycle): bulk cancellation, rerun, pause, resume, replay."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stepwell.core.expressions import ExpressionError, compile_expression
from stepwell.server.http import error, json_response, read_json, sdk_authorised
from stepwell.server.runtime import ServerRuntime


def _ms(where: str, value: Any) -> int | None:
    """An RFC 3339 time (or ms since the epoch) as ms; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise ValueError(f"{where}: expected an RFC 3339 time") from None


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    return body


def routes(runtime: ServerRuntime) -> list[Route]:
    engine = runtime.engine
    config = runtime.config

    async def cancellations(request: Request) -> Response:
        """``POST /v1/cancellations``: cancel a function's runs in a window, optionally
        filtered by a CEL expression over ``event``."""
        if not sdk_authorised(request, config):
            return error(401, "Authentication failed")
        try:
            body = await _body(request)
            function_id = body.get("function_id") or body.get("function_slug")
            if (
                body.get("app_id")
                and function_id
                and not str(function_id).startswith(f"{body['app_id']}-")
            ):
                function_id = f"{body['app_id']}-{function_id}"
            if not isinstance(function_id, str) or not function_id:
                raise ValueError("function_id: the function's id is required")
            condition = body.get("if") or None
            if condition is not None:
                compile_expression(str(condition))
            after = _ms("started_after", body.get("started_after"))
            before = _ms("started_before", body.get("started_before"))
        except (ValueError, ExpressionError) as exc:
            return error(400, str(exc))
        try:
            cancelled = await engine.cancel_runs(
                function_id, started_after=after, started_before=before, if_=condition
            )
        except LookupError as exc:
            return error(404, str(exc))
        return json_response(
            {
                "id": str(uuid.uuid4()),
                "function_id": function_id,
                "started_after": body.get("started_after"),
                "started_before": body.get("started_before"),
                "if": condition,
                "cancelled_run_ids": cancelled,
            }
        )

    async def rerun(request: Request) -> Response:
        try:
            body = await _body(request)
        except ValueError as exc:
            return error(400, str(exc))
        from_step = body.get("from_step") or body.get("fromStep")
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
        try:
            body = await _body(request)
            after = _ms("received_after", body.get("received_after"))
            if after is None:
                raise ValueError("received_after: the start of the window is required")
            before = _ms("received_before", body.get("received_before"))
            run_ids = await engine.replay(
                _function(request), received_after=after, received_before=before
            )
        except ValueError as exc:
            return error(400, str(exc))
        except LookupError as exc:
            return error(404, str(exc))
        return json_response({"data": {"run_ids": run_ids}})

    return [
        Route("/v1/cancellations", cancellations, methods=["POST"]),
        Route("/v1/runs/{run_id}/rerun", rerun, methods=["POST"]),
        Route("/v2/runs/{run_id}/rerun", rerun, methods=["POST"]),
        Route("/v1/functions/{function_id}/pause", pause, methods=["POST"]),
        Route("/v1/functions/{function_id}/resume", resume, methods=["POST"]),
        Route("/v1/functions/{function_id}/replay", replay, methods=["POST"]),
    ]
