"""Serve an app from a Flask application: ``serve(app, flask_app)`` adds ``/api/inngest``."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine
from typing import Any, TypeVar, Unpack, overload

import flask

from stepwell.sdk.app import App
from stepwell.sdk.serve.config import (
    DEFAULT_SERVE_PATH,
    ServeConfig,
    ServeKeywords,
    ServeOptions,
)
from stepwell.sdk.serve.handler import Handler
from stepwell.sdk.serve.messages import HttpRequest

FRAMEWORK = "flask"
T = TypeVar("T")


# Two signatures so that a ``**settings`` dict passes as before (it cannot be ``options``).
@overload
def serve(
    app: App,
    flask_app: flask.Flask,
    *,
    url_prefix: str = ...,
    **keywords: Unpack[ServeKeywords],
) -> Handler: ...
@overload
def serve(
    app: App,
    flask_app: flask.Flask,
    options: ServeOptions | None,
    *,
    url_prefix: str = ...,
    **keywords: Unpack[ServeKeywords],
) -> Handler: ...
def serve(
    app: App,
    flask_app: flask.Flask,
    options: ServeOptions | None = None,
    *,
    url_prefix: str = DEFAULT_SERVE_PATH,
    **keywords: Unpack[ServeKeywords],
) -> Handler:
    """Add the route ``url_prefix`` (GET, POST, PUT) to ``flask_app``; see ``stepwell.serve``."""
    config = ServeConfig.resolve(options, **keywords)
    handler = Handler(app, config, FRAMEWORK)

    def view() -> flask.Response:
        request = flask.request
        incoming = HttpRequest.build(
            request.method, request.url, dict(request.headers), request.get_data()
        )
        reply = _run(handler.handle(incoming))
        return flask.Response(reply.body, status=reply.status, headers=reply.headers)

    flask_app.add_url_rule(
        url_prefix, endpoint=f"stepwell-{app.id}", view_func=view, methods=["GET", "POST", "PUT"]
    )
    return handler


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Run the handler to completion from a WSGI worker: on a fresh loop in this thread, or in
    a helper thread if this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
