"""The functions pages: every function with its app, triggers, flow control, paused or not and
its recent runs by status; one function's page with Invoke, Pause, Resume and Replay."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from stepwell.dashboard.context import DashboardContext
from stepwell.dashboard.forms import ERROR_SWAP, FormError, form_fields, json_field, lead_to
from stepwell.dashboard.function_facts import DAY_MS, STATUSES, counts, flow_words, triggers
from stepwell.dashboard.pages.events import notice
from stepwell.dashboard.templating import render
from stepwell.engine.ingest import InvalidEventError
from stepwell.engine.registry import FunctionSpec
from stepwell.ports.history import RunQuery
from stepwell.server.events_api import invoke_function

MAX_KEPT_SCAN = 1000  # events read to count those kept while paused; "1000+" past it


def _ctx(request: Request) -> DashboardContext:
    ctx = request.state.ctx
    assert isinstance(ctx, DashboardContext)
    return ctx


def _now_ms() -> int:
    return int(time.time() * 1000)


async def _spec(ctx: DashboardContext, slug: str) -> FunctionSpec | None:
    return next((spec for spec in await ctx.functions() if spec.slug == slug), None)


def _refusal(ctx: DashboardContext) -> str | None:
    if not ctx.can_act or ctx.runtime is None:
        return ctx.read_only_reason or "this dashboard cannot act on the server"
    return None


async def _kept_events(ctx: DashboardContext, spec: FunctionSpec, since: int) -> int:
    """How many events received since ``since`` would have started the function."""
    if ctx.runtime is None:
        return 0
    registry = ctx.runtime.engine.registry
    events = await ctx.history.list_events(received_after=since, limit=MAX_KEPT_SCAN)
    return sum(
        1
        for event in events
        if spec.slug in {s.slug for s in registry.matching(event.event.name, event.to_wire())}
    )


def routes(ctx: DashboardContext) -> list[BaseRoute]:
    del ctx  # each request carries it (request.state.ctx)

    async def list_page(request: Request) -> Response:
        ctx = _ctx(request)
        now = _now_ms()
        rows = [
            (spec, triggers(spec, now), await counts(ctx.history, (spec.slug,), now - DAY_MS))
            for spec in await ctx.functions()
        ]
        return render(request, "functions.html", rows=rows, statuses=STATUSES)

    async def function_page(request: Request) -> Response:
        ctx = _ctx(request)
        slug = request.path_params["slug"]
        spec = await _spec(ctx, slug)
        if spec is None:
            return render(request, "function_missing.html", status_code=404, slug=slug)
        now = _now_ms()
        since = await ctx.engine.paused_since(slug) if ctx.engine is not None else None
        recent = await ctx.history.query_runs(RunQuery(function_ids=(slug,), first=10))
        replayed = request.query_params.get("replayed", "")
        return render(
            request,
            "function.html",
            spec=spec,
            triggers=triggers(spec, now),
            flow=flow_words(spec.flow, spec),
            day=await counts(ctx.history, (slug,), now - DAY_MS),
            ever=await counts(ctx.history, (slug,), None),
            statuses=STATUSES,
            paused_since=since,
            kept=await _kept_events(ctx, spec, since) if since is not None else 0,
            max_kept=MAX_KEPT_SCAN,
            recent=recent.runs,
            refusal=_refusal(ctx),
            replayed=int(replayed) if replayed.isdigit() and len(replayed) < 9 else None,
            error_swap=ERROR_SWAP,
        )

    async def act(request: Request) -> tuple[DashboardContext, FunctionSpec] | Response:
        """The context and function of an action, or the refusal to answer with."""
        ctx = _ctx(request)
        refusal = _refusal(ctx)
        if refusal is not None:
            return notice(request, f"Functions cannot be changed from here: {refusal}.", 409)
        slug = request.path_params["slug"]
        spec = await _spec(ctx, slug)
        if spec is None:
            return notice(request, f"No function has the id {slug!r}.", 404)
        return ctx, spec

    async def invoke(request: Request) -> Response:
        found = await act(request)
        if isinstance(found, Response):
            return found
        ctx, spec = found
        assert ctx.runtime is not None
        try:
            data = json_field(await form_fields(request), "data", "Data", empty={})
        except FormError as exc:
            return notice(request, exc.message, exc.status)
        if not isinstance(data, dict):
            return notice(request, 'Data: expected a JSON object, e.g. {"order_id": 7}.')
        try:
            event_id = await invoke_function(ctx.runtime, spec.slug, data)
        except LookupError as exc:
            return notice(request, f"{exc}.", 404)
        except InvalidEventError as exc:
            return notice(request, f"Data: {exc.reason}")
        return render(request, "_functions_invoked.html", event_id=event_id, spec=spec)

    async def pause(request: Request) -> Response:
        found = await act(request)
        if isinstance(found, Response):
            return found
        ctx, spec = found
        assert ctx.engine is not None
        await ctx.engine.pause_function(spec.slug)
        return lead_to(request, f"/functions/{spec.slug}")

    async def resume(request: Request) -> Response:
        found = await act(request)
        if isinstance(found, Response):
            return found
        ctx, spec = found
        assert ctx.engine is not None
        await ctx.engine.resume_function(spec.slug)
        return lead_to(request, f"/functions/{spec.slug}")

    async def replay(request: Request) -> Response:
        """Resume the function, then start runs for the events it kept while paused."""
        found = await act(request)
        if isinstance(found, Response):
            return found
        ctx, spec = found
        assert ctx.engine is not None
        since = await ctx.engine.paused_since(spec.slug)
        if since is None:
            return notice(request, f"{spec.name} is not paused: there are no kept events.", 409)
        # Events from here on start runs themselves once resumed: the window ends now.
        until = _now_ms()
        await ctx.engine.resume_function(spec.slug)
        started = await ctx.engine.replay(spec.slug, received_after=since, received_before=until)
        return lead_to(request, f"/functions/{spec.slug}?replayed={len(started)}")

    return [
        Route("/functions", list_page, methods=["GET"]),
        Route("/functions/{slug}", function_page, methods=["GET"]),
        Route("/functions/{slug}/invoke", invoke, methods=["POST"]),
        Route("/functions/{slug}/pause", pause, methods=["POST"]),
        Route("/functions/{slug}/resume", resume, methods=["POST"]),
        Route("/functions/{slug}/replay", replay, methods=["POST"]),
    ]
