"""The dashboard's routes: each page module adds its own; all are wrapped by the session rule."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from stepwell.dashboard import session
from stepwell.dashboard.context import DashboardContext
from stepwell.dashboard.pages import apps, events, functions, overview, run, runs

STATIC = Path(__file__).with_name("static")
PAGES = (runs, run, events, functions, apps, overview)
"""One module a page (``routes(ctx)``), in the order their routes are matched."""


def dashboard_routes(ctx: DashboardContext) -> list[BaseRoute]:
    """Every route of the dashboard, to mount beside the server's API on the same port.

    Page routes are wrapped by ``session.protect``: in production a browser must have logged
    in, and actions carry the page's anti-forgery token. The login page and the static files
    are open.
    """
    routes: list[BaseRoute] = [
        Mount("/ui/static", StaticFiles(directory=STATIC), name="static"),
        *session.routes(ctx),
    ]
    for page in PAGES:
        for route in page.routes(ctx):
            assert isinstance(route, Route)
            routes.append(
                Route(
                    route.path,
                    session.protect(ctx, route.endpoint),
                    methods=sorted(route.methods or []),
                    name=route.name,
                )
            )
    return routes
