"""Serve an app from a Django project: add ``serve(app)`` to ``urlpatterns`` (``api/inngest``)."""

from __future__ import annotations

from typing import Unpack, overload

import django.http
import django.urls
from django.views.decorators.csrf import csrf_exempt

from stepwell.sdk.app import App
from stepwell.sdk.serve.config import (
    DEFAULT_SERVE_PATH,
    ServeConfig,
    ServeKeywords,
    ServeOptions,
)
from stepwell.sdk.serve.handler import Handler
from stepwell.sdk.serve.messages import HttpRequest

FRAMEWORK = "django"


# Two signatures so that a ``**settings`` dict passes as before (it cannot be ``options``).
@overload
def serve(
    app: App, *, route: str | None = ..., **keywords: Unpack[ServeKeywords]
) -> django.urls.URLPattern: ...
@overload
def serve(
    app: App,
    options: ServeOptions | None,
    *,
    route: str | None = ...,
    **keywords: Unpack[ServeKeywords],
) -> django.urls.URLPattern: ...
def serve(
    app: App,
    options: ServeOptions | None = None,
    *,
    route: str | None = None,
    **keywords: Unpack[ServeKeywords],
) -> django.urls.URLPattern:
    """A URL pattern answering GET, POST and PUT at ``route`` (default: ``serve_path``,
    ``INNGEST_SERVE_PATH``, or ``/api/inngest``); see ``stepwell.serve`` for the rest."""
    config = ServeConfig.resolve(options, **keywords)
    handler = Handler(app, config, FRAMEWORK)

    # Async view: native under ASGI, and Django runs it on its own loop under WSGI.
    async def view(request: django.http.HttpRequest) -> django.http.HttpResponse:
        incoming = HttpRequest.build(
            request.method or "GET",
            request.build_absolute_uri(),
            dict(request.headers),
            request.body,
        )
        reply = await handler.handle(incoming)
        return django.http.HttpResponse(reply.body, status=reply.status, headers=reply.headers)

    path = route or config.serve_path or DEFAULT_SERVE_PATH
    return django.urls.path(path.lstrip("/"), csrf_exempt(view), name=f"stepwell-{app.id}")
