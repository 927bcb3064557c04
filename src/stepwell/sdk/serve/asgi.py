"""Serve an app over HTTP as an ASGI application (Starlette): mount it in FastAPI or Starlette,
or run it with any ASGI server."""

from __future__ import annotations

import asyncio
from typing import Unpack, overload

from stepwell.core.extras import MissingExtraError

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
    from starlette.types import Receive, Scope, Send
except ImportError as exc:  # FastAPI and Starlette apps have it; others get it with the extra
    raise MissingExtraError(
        "stepwell.serve (ASGI) needs Starlette: pip install 'stepwell[server]'"
    ) from exc

from stepwell.core.limits import MAX_RUN_STATE_BYTES
from stepwell.sdk.app import App
from stepwell.sdk.serve.config import ServeConfig, ServeKeywords, ServeOptions
from stepwell.sdk.serve.handler import Handler
from stepwell.sdk.serve.messages import HttpRequest

FRAMEWORK = "starlette"


# Two signatures so that a ``**settings`` dict passes as before (it cannot be ``options``).
@overload
def serve(app: App, **keywords: Unpack[ServeKeywords]) -> Starlette: ...
@overload
def serve(
    app: App, options: ServeOptions | None, **keywords: Unpack[ServeKeywords]
) -> Starlette: ...
def serve(
    app: App, options: ServeOptions | None = None, **keywords: Unpack[ServeKeywords]
) -> Starlette:
    """An ASGI app that lets an Inngest-compatible server sync and run ``app``'s functions.

    It answers on every path it is given, so it can be routed to anywhere: as the route
    ``Route("/api/inngest", stepwell.serve(app))`` (in FastAPI: append it to
    ``api.router.routes``), or mounted with ``api.mount("/api/inngest", …)`` (then the URL to
    sync is ``/api/inngest/``, with the slash), or run on its own by an ASGI server.

    The settings are a ``ServeOptions`` or the same as keyword arguments (``signing_key=``,
    ``signing_key_fallback=``, ``event_key=``, ``base_url=``, ``is_dev=``, ``serve_origin=``,
    ``serve_path=``); a keyword argument wins over the same field of ``options``.
    Unset ones come from the environment as with Inngest's Python SDK: ``INNGEST_DEV``
    (dev mode, and the server's URL), ``INNGEST_BASE_URL`` / ``INNGEST_API_BASE_URL`` /
    ``INNGEST_EVENT_API_BASE_URL``, ``INNGEST_SIGNING_KEY[_FALLBACK]``, ``INNGEST_EVENT_KEY``,
    ``INNGEST_SERVE_ORIGIN`` / ``INNGEST_SERVE_PATH`` (overrides of the URL registered).
    Outside dev mode a signing key is required and every call must be signed with it.
    """
    config = ServeConfig.resolve(options, **keywords)
    handler = Handler(app, config, FRAMEWORK, one_loop=True)
    # An ASGI endpoint (not a function) so that every method reaches the handler, which
    # answers even unsupported ones with the SDK's headers.
    asgi = Starlette(routes=[Route("/{path:path}", _Endpoint(handler))])
    asgi.state.handler = handler
    return asgi


MAX_BODY_BYTES = MAX_RUN_STATE_BYTES + 8 * 1024 * 1024
"""A call carries at most the run's state and its events; anything larger is not a call."""


async def _body_within(request: Request, limit: int) -> bytes | None:
    """The body, or None once it is known to be over ``limit``: from its declared length
    before anything is read, else by counting it as it streams (never holding more)."""
    if _declared_length(request) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            return None
        body += chunk
    return bytes(body)


def _declared_length(request: Request) -> int:
    """``Content-Length`` as a number; 0 when absent or not a plain number, whose body is
    then only counted (the SDK answers what it can read, it does not police headers)."""
    declared = request.headers.get("content-length", "")
    return int(declared) if declared.isascii() and declared.isdigit() else 0


class _Endpoint:
    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        body = await _body_within(request, MAX_BODY_BYTES)
        if body is None:
            reply = self._handler.too_large(MAX_BODY_BYTES)
        else:
            hung_up = asyncio.Event()
            watching = asyncio.ensure_future(_watch_disconnect(receive, hung_up))
            try:
                incoming = HttpRequest.build(
                    request.method, str(request.url), request.headers, body, hung_up.is_set
                )
                reply = await self._handler.handle(incoming)
            finally:
                watching.cancel()
        response = Response(reply.body, status_code=reply.status, headers=reply.headers)
        await response(scope, receive, send)


async def _watch_disconnect(receive: Receive, hung_up: asyncio.Event) -> None:
    """Once the body is read, the next ASGI message is ``http.disconnect``: the caller left."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            hung_up.set()
            return
