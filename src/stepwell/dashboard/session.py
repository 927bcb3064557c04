"""Who may see and act on the dashboard.

``stepwell dev`` asks nothing. In production (``login_key`` set) a browser logs in with the key
and gets a session cookie; every page needs it, and every action (any method but GET) carries
the page's anti-forgery token. (Filled in by the login work: today this only passes through.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from stepwell.dashboard.context import DashboardContext

Endpoint = Callable[[Request], Awaitable[Response]]


def routes(ctx: DashboardContext) -> list[BaseRoute]:
    """The login and logout routes (open)."""
    del ctx
    return []


def protect(ctx: DashboardContext, endpoint: Callable[..., object]) -> Endpoint:
    """``endpoint``, reached only with a live session (production) and, for actions, a valid
    anti-forgery token; ``request.state.csrf_token`` is set for the page to embed."""

    async def guarded(request: Request) -> Response:
        request.state.csrf_token = ""
        request.state.ctx = ctx
        result = endpoint(request)
        assert isinstance(result, Awaitable)
        response = await result
        assert isinstance(response, Response)
        return response

    return guarded
