"""The overview: on its own page, and as the panel at the top of Runs (refreshed by htmx)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from stepwell.dashboard.context import DashboardContext
from stepwell.dashboard.overview_data import load_overview
from stepwell.dashboard.templating import render


def routes(ctx: DashboardContext) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        overview = await load_overview(ctx.history, int(time.time() * 1000))
        return render(request, "overview.html", overview=overview)

    async def panel(request: Request) -> Response:
        overview = await load_overview(ctx.history, int(time.time() * 1000))
        return render(request, "_overview_panel.html", overview=overview)

    return [
        Route("/overview", page, methods=["GET"]),
        Route("/ui/overview", panel, methods=["GET"]),
    ]
