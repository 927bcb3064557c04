"""The Runs page (the home page): every run newest first, filtered and searched from the URL,
paged by cursor, and live: an SSE stream tells the table to fetch itself again when runs
change (``History.runs_fingerprint``)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from stepwell.core.runs import RunStatus
from stepwell.dashboard import live
from stepwell.dashboard.context import DashboardContext
from stepwell.dashboard.overview_data import load_overview
from stepwell.dashboard.runs_filter import WINDOWS, RunFilters, parse_filters
from stepwell.dashboard.runs_list import SCAN_LIMIT, RunsView, runs_page
from stepwell.dashboard.templating import render
from stepwell.ports.history import UnknownCursor


def _now_ms() -> int:
    return int(time.time() * 1000)


FUNCTION_IDS_TTL_S = 10.0
"""How long the list of functions that have runs is reused: it is a DISTINCT over every run
(~13 ms on PostgreSQL at 100,000 runs), and it changes only when a new function first runs."""


async def _run_function_ids(ctx: DashboardContext) -> list[str]:
    now = time.monotonic()
    cached = ctx.function_ids_seen
    if cached is not None and now - cached[0] < FUNCTION_IDS_TTL_S:
        return cached[1]
    slugs = await ctx.history.run_function_ids()
    ctx.function_ids_seen = (now, slugs)
    return slugs


async def _choices(ctx: DashboardContext) -> tuple[dict[str, str], list[str]]:
    """Function slug → name (registered functions, and any that only have runs), and apps."""
    names = {spec.slug: spec.name for spec in await ctx.functions()}
    for slug in await _run_function_ids(ctx):
        names.setdefault(slug, slug)
    apps = sorted({app.name for app in await ctx.apps()})
    return names, apps


async def _table(
    ctx: DashboardContext, filters: RunFilters, names: dict[str, str]
) -> tuple[RunsView, int]:
    """The table's rows and the status to answer with (400 when the URL was wrong)."""
    if filters.problems:
        return RunsView(), 400
    try:
        view = await runs_page(ctx.history, filters.query(_now_ms()), filters.search, names)
    except UnknownCursor:
        filters.problems.append(
            "cursor: not a run of these filters (the run may have been pruned); "
            "start again from the first page"
        )
        return RunsView(), 400
    return view, 400 if view.search_error else 200


def routes(ctx: DashboardContext) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        filters = parse_filters(request.query_params)
        names, apps = await _choices(ctx)
        view, status = await _table(ctx, filters, names)
        overview = await load_overview(ctx.history, _now_ms()) if not filters.cursor else None
        return render(
            request,
            "runs.html",
            status_code=status,
            filters=filters,
            view=view,
            names=names,
            apps=apps,
            windows=WINDOWS,
            statuses=list(RunStatus),
            scan_limit=SCAN_LIMIT,
            overview=overview,
            now_ms=_now_ms(),
        )

    async def table(request: Request) -> Response:
        filters = parse_filters(request.query_params)
        names, _ = await _choices(ctx)
        view, status = await _table(ctx, filters, names)
        return render(
            request,
            "_runs_table.html",
            status_code=status,
            filters=filters,
            view=view,
            scan_limit=SCAN_LIMIT,
            now_ms=_now_ms(),
        )

    async def changes(request: Request) -> Response:
        return live.stream(request, ctx.history.runs_fingerprint)

    return [
        Route("/", page, methods=["GET"]),
        Route("/runs", page, methods=["GET"]),
        Route("/ui/runs/table", table, methods=["GET"]),
        Route("/ui/live/runs", changes, methods=["GET"]),
    ]
