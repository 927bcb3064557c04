"""The runs page (the home page; to be built)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from stepwell.dashboard.context import DashboardContext
from stepwell.dashboard.templating import render


def routes(ctx: DashboardContext) -> list[BaseRoute]:
    async def home(request: Request) -> Response:
        return render(request, "runs.html")

    return [Route("/", home, methods=["GET"])]
