"""Serve an app from a Django project: add ``serve(app)`` to ``urlpatterns`` (``api/inngest``)."""

from __future__ import annotations

import os

import django.http
import django.urls
from django.views.decorators.csrf import csrf_exempt

from stepwell.sdk.app import App
from stepwell.sdk.serve.config import DEFAULT_SERVE_PATH, ServeConfig
from stepwell.sdk.serve.handler import Handler
from stepwell.sdk.serve.messages import HttpRequest

FRAMEWORK = "django"


def serve(
    app: App,
    *,
    route: str | None = None,
    signing_key: str | None = None,
    signing_key_fallback: str | None = None,
    event_key: str | None = None,
    base_url: str | None = None,
    is_dev: bool | None = None,
    serve_origin: str | None = None,
    serve_path: str | None = None,
) -> django.urls.URLPattern:
    """A URL pattern answering GET, POST and PUT at ``route`` (default: ``serve_path``,
    ``INNGEST_SERVE_PATH``, or ``/api/inngest``); see ``stepwell.serve`` for the rest."""
    config = ServeConfig.resolve(
        signing_key=signing_key,
        signing_key_fallback=signing_key_fallback,
        event_key=event_key,
        base_url=base_url,
        is_dev=is_dev,
        serve_origin=serve_origin,
        serve_path=serve_path,
    )
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

    path = route or serve_path or os.environ.get("INNGEST_SERVE_PATH") or DEFAULT_SERVE_PATH
    return django.urls.path(path.lstrip("/"), csrf_exempt(view), name=f"stepwell-{app.id}")
