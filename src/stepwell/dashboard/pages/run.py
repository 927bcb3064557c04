"""The Run page: the run's waterfall, its trigger events, its output or error, its JSON, and
the actions Cancel (confirmed), Rerun and Rerun from a step, each leading to the run it made.
Live while the run goes: an SSE stream tells the page to fetch its body again."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from stepwell.dashboard import live
from stepwell.dashboard.context import DashboardContext
from stepwell.dashboard.forms import FormError, form_fields, lead_to
from stepwell.dashboard.templating import render
from stepwell.dashboard.timeline import build_timeline
from stepwell.ports.records import RunRecord
from stepwell.server.rest_shapes import iso
from stepwell.server.runs_api import run_json

MAX_ID = 200


def _now_ms() -> int:
    return int(time.time() * 1000)


def plausible_id(value: str) -> bool:
    """Whether ``value`` can be asked of any database (no NUL, no lone surrogate)."""
    if not value or len(value) > MAX_ID or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_of(ctx: DashboardContext, run: RunRecord) -> dict[str, Any]:
    """What ``GET /v1/runs/{id}`` answers (``server/runs_api.py``)."""
    spec = ctx.runtime.engine.registry.get(run.function_id) if ctx.runtime else None
    data = run_json(run, spec.uuid if spec else None)
    return {"data": data, "metadata": {"fetched_at": iso(_now_ms())}}


def routes(ctx: DashboardContext) -> list[BaseRoute]:
    async def find(request: Request) -> RunRecord | None:
        run_id = request.path_params["run_id"]
        return await ctx.history.get_run(run_id) if plausible_id(run_id) else None

    def missing(request: Request) -> Response:
        run_id = request.path_params["run_id"]
        return render(request, "run_missing.html", status_code=404, run_id=run_id[:MAX_ID])

    async def body_context(run: RunRecord) -> dict[str, Any]:
        now = _now_ms()
        events = await ctx.history.get_events(run.event_ids)
        spec = ctx.engine.registry.get(run.function_id) if ctx.engine is not None else None
        parent = None
        if run.correlation_id and "." in run.correlation_id:
            parent = run.correlation_id.split(".", 1)[0]
        return {
            "run": run,
            "function_name": spec.name if spec is not None else run.function_id,
            "events": events,
            "timeline": await build_timeline(ctx.history, run, now),
            "parent_id": parent,
            "now_ms": now,
        }

    async def page(request: Request) -> Response:
        run = await find(request)
        if run is None:
            return missing(request)
        return render(request, "run.html", **await body_context(run))

    async def body(request: Request) -> Response:
        run = await find(request)
        if run is None:
            return missing(request)
        return render(request, "_run_body.html", **await body_context(run))

    async def as_json(request: Request) -> Response:
        run = await find(request)
        if run is None:
            return JSONResponse({"error": "run not found"}, status_code=404)
        return JSONResponse(_json_of(ctx, run))

    async def changes(request: Request) -> Response:
        run_id = request.path_params["run_id"]

        async def probe() -> str | None:
            run = await ctx.history.get_run(run_id) if plausible_id(run_id) else None
            if run is None or run.status.is_terminal:
                return None
            spans = await ctx.history.run_trace(run_id)
            seen = ",".join(f"{s.step_hash}:{s.attempt}:{s.status}:{s.ended_at}" for s in spans)
            return f"{run.status}:{hash(seen)}"

        return live.stream(request, probe)

    def refused(request: Request, status: int, message: str) -> Response:
        return render(request, "run_refused.html", status_code=status, message=message)

    async def act(request: Request, action: str) -> Response:
        engine = ctx.engine
        if engine is None or not ctx.can_act:
            return refused(request, 403, ctx.read_only_reason or "this dashboard cannot act")
        run = await find(request)
        if run is None:
            return missing(request)
        target = run.run_id
        try:
            if action == "cancel":
                await engine.cancel(run.run_id)
            else:
                try:
                    fields = await form_fields(request)
                except FormError as exc:
                    return refused(request, exc.status, str(exc))
                step = fields.get("step", "").strip() if action == "rerun-from" else None
                if action == "rerun-from" and not step:
                    return refused(request, 400, "Rerun from: choose a step to start from")
                target = await engine.rerun(
                    run.run_id, from_step=step if isinstance(step, str) else None
                )
        except LookupError as exc:
            return refused(request, 404, str(exc).strip("'\""))
        except RuntimeError as exc:
            return refused(request, 409, str(exc))
        return lead_to(request, f"/runs/{target}")

    async def cancel(request: Request) -> Response:
        return await act(request, "cancel")

    async def rerun(request: Request) -> Response:
        return await act(request, "rerun")

    async def rerun_from(request: Request) -> Response:
        return await act(request, "rerun-from")

    return [
        Route("/runs/{run_id}.json", as_json, methods=["GET"]),
        Route("/runs/{run_id}", page, methods=["GET"]),
        Route("/runs/{run_id}/cancel", cancel, methods=["POST"]),
        Route("/runs/{run_id}/rerun", rerun, methods=["POST"]),
        Route("/runs/{run_id}/rerun-from", rerun_from, methods=["POST"]),
        Route("/ui/runs/{run_id}/body", body, methods=["GET"]),
        Route("/ui/live/runs/{run_id}", changes, methods=["GET"]),
    ]
