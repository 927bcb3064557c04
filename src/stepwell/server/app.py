"""The server's ASGI application: every API on one port (protocol.md §1.1)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stepwell.server import (
    apps_v2_api,
    connect_api,
    endpoints_api,
    events_api,
    gql,
    metadata_api,
    metrics_api,
    openapi,
    operations_api,
    runs_api,
    runs_v2_api,
    sync_api,
)
from stepwell.server.auth import SigningKeyGuard
from stepwell.server.direct_route import DirectRoute
from stepwell.server.http import RequestRefused, error
from stepwell.server.runtime import ServerRuntime

OPEN_PATHS = frozenset(
    {
        "/health",
        "/e/{key}",
        "/e/",
        # A durable endpoint's caller (a browser following the SDK's redirect) holds only the
        # run's token, an HMAC under the signing key that these routes check themselves.
        "/v1/http/runs/{run_id}/output",
        "/v1/checkpoint/{run_id}/output",
        "/v1/realtime/sse",
    }
)
"""The only routes of the server itself that answer without the signing key in production:
health, the event API (which checks event keys) and a durable endpoint's output (which checks
the run's token). Everything else is locked."""


class ServerKindHeader:
    """Every response says what kind of server answered (``dev`` or ``cloud``).

    ``POST /e/{key}``, the hottest path, is answered from here by ``events``: the route is
    open (the guard lets it through) and its handler is raw ASGI, so Starlette's router and
    middlewares would only add their cost, per request."""

    def __init__(
        self,
        app: ASGIApp,
        kind: str,
        routes: Sequence[BaseRoute] = (),
        events: events_api.EventIntake | None = None,
    ) -> None:
        self._app = app
        self._header = (b"x-inngest-server-kind", kind.encode("ascii"))
        self._headers = [self._header]
        self._events = events
        self.routes = list(routes)
        """Every route served, as the router holds them (tests walk them)."""
        self.direct_route = (
            None
            if events is None
            else DirectRoute(
                events.answer,
                [*events_api.JSON_HEADERS, *self._headers],
                [*events_api.PLAIN_HEADERS, *self._headers],
            )
        )
        """The same answers, for the HTTP protocol to give itself (``server.direct_route``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        if self._events is not None and scope["method"] == "POST":
            key = event_key(scope)
            if key is not None:
                await self._events.serve(key, scope, receive, send, self._headers)
                return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), self._header]
            await send(message)

        await self._app(scope, receive, send_with_header)


def event_key(scope: Scope) -> str | None:
    """The key of a path the routes ``/e/{key}`` or ``/e/`` match, else None (a mounted
    root path is left to the router, which knows how to strip it)."""
    path: str = scope["path"]
    if not path.startswith("/e/") or scope.get("root_path"):
        return None
    key = path[3:]
    return None if "/" in key else key


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestRefused)
    return error(exc.status, exc.message)


async def _not_routed(request: Request, exc: Exception) -> Response:
    """The router's own 404 and 405, as JSON that says what was asked."""
    assert isinstance(exc, HTTPException)
    return error(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}")


def open_routes(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    return [r for r in routes if isinstance(r, Route) and r.path in OPEN_PATHS]


def create_app(
    runtime: ServerRuntime, *, extra_routes: Sequence[BaseRoute] = ()
) -> ServerKindHeader:
    """The server; ``extra_routes`` mount more on the same port (an app served on our SDK,
    which verifies request signatures itself and so is open to the guard)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    events = events_api.EventIntake(runtime)
    routes = [
        *events_api.routes(runtime, events),
        *sync_api.routes(runtime),
        *runs_api.routes(runtime),
        *runs_v2_api.routes(runtime),
        *apps_v2_api.routes(runtime),
        *operations_api.routes(runtime),
        *gql.routes(runtime),
        *connect_api.routes(runtime),
        *endpoints_api.routes(runtime),
        *metadata_api.routes(runtime),
        *metrics_api.routes(runtime),
    ]
    routes.append(openapi.route(routes))
    app = Starlette(
        routes=[*routes, *extra_routes],
        lifespan=lifespan,
        exception_handlers={RequestRefused: _refused, HTTPException: _not_routed},
    )
    public = [*open_routes(routes), *metrics_api.open_routes(runtime), *extra_routes]
    guarded = SigningKeyGuard(app, runtime.config, public)
    # Answered ahead of the guard: it must stay one of the open routes.
    assert {"/e/{key}", "/e/"} <= OPEN_PATHS
    return ServerKindHeader(guarded, runtime.config.server_kind, app.routes, events)
