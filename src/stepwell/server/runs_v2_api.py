"""The ``/v2`` runs API, what scripts use: list, read, trace and cancel runs.

Lists answer ``{"data": [...], "page": {"cursor", "hasMore", "limit"}, "metadata": ...}``;
pass ``page.cursor`` back as ``?cursor=`` for the next page (``run_filters`` has the other
filters). Records are camelCase (``rest_shapes``). Reads go through ``engine.history``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stepwell.ports.history import UnknownCursor
from stepwell.server.http import error, json_response
from stepwell.server.rest_shapes import iso, run_v2, span_v2
from stepwell.server.run_filters import run_query
from stepwell.server.runtime import ServerRuntime


def _metadata() -> dict[str, Any]:
    return {"fetchedAt": iso(int(datetime.now(UTC).timestamp() * 1000))}


def routes(runtime: ServerRuntime) -> list[Route]:
    engine = runtime.engine
    history = engine.history

    async def list_runs(request: Request) -> Response:
        query = run_query(request, default_limit=50)
        try:
            page = await history.query_runs(query)
        except UnknownCursor:
            return error(400, "cursor: not a cursor of this list (it names no listed run)")
        return json_response(
            {
                "data": [run_v2(run) for run in page.runs],
                "page": {
                    "cursor": page.end_cursor if page.has_more else None,
                    "hasMore": page.has_more,
                    "limit": query.first,
                },
                "metadata": _metadata(),
            }
        )

    async def get_run(request: Request) -> Response:
        run = await history.get_run(request.path_params["run_id"])
        if run is None:
            return error(404, f"no run with id {request.path_params['run_id']!r}")
        return json_response({"data": run_v2(run), "metadata": _metadata()})

    async def trace(request: Request) -> Response:
        """The run and its step attempts, by start time (what ``stepwell runs show`` draws)."""
        run = await history.get_run(request.path_params["run_id"])
        if run is None:
            return error(404, f"no run with id {request.path_params['run_id']!r}")
        spans = await history.run_trace(run.run_id)
        return json_response(
            {"data": {"run": run_v2(run), "spans": [span_v2(s) for s in spans]}, "metadata": {}}
        )

    async def cancel(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        try:
            cancelled = await engine.cancel(run_id)
        except LookupError:
            return error(404, f"no run with id {run_id!r}")
        run = await history.get_run(run_id)
        assert run is not None
        return json_response({"data": {**run_v2(run), "cancelled": cancelled}})

    return [
        Route("/v2/runs", list_runs, methods=["GET"]),
        Route("/v2/runs/{run_id}", get_run, methods=["GET"]),
        Route("/v2/runs/{run_id}/trace", trace, methods=["GET"]),
        Route("/v2/runs/{run_id}/cancel", cancel, methods=["POST"]),
    ]
