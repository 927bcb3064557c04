"""Serving an app over HTTP so that an Inngest-compatible server drives it (protocol.md §3–§6).

``handler.Handler`` does the work, framework-neutral; ``asgi``, ``flask`` and ``django`` only
translate requests and responses.
"""

from stepwell.sdk.serve.asgi import serve
from stepwell.sdk.serve.config import ServeConfig, ServeConfigError, ServeOptions
from stepwell.sdk.serve.handler import Handler
from stepwell.sdk.serve.messages import HttpRequest, HttpResponse

__all__ = [
    "Handler",
    "HttpRequest",
    "HttpResponse",
    "ServeConfig",
    "ServeConfigError",
    "ServeOptions",
    "serve",
]
