"""The apps page (to be built)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from stepwell.dashboard.context import DashboardContext


def routes(ctx: DashboardContext) -> list[BaseRoute]:
    del ctx
    return []
