"""Serving an app over HTTP so that an Inngest-compatible server drives it (protocol.md §3–§6).

``handler.Handler`` does the work, framework-neutral; ``asgi``, ``flask`` and ``django`` only
translate requests and responses.
"""

from typing import TYPE_CHECKING, Any

from stepwell.sdk.serve.config import ServeConfig, ServeConfigError, ServeOptions
from stepwell.sdk.serve.handler import Handler
from stepwell.sdk.serve.messages import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from stepwell.sdk.serve.asgi import serve


def __getattr__(name: str) -> Any:
    # The ASGI adapter needs Starlette; Flask and Django apps import this package without it.
    if name == "serve":
        from stepwell.sdk.serve.asgi import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Handler",
    "HttpRequest",
    "HttpResponse",
    "ServeConfig",
    "ServeConfigError",
    "ServeOptions",
    "serve",
]
