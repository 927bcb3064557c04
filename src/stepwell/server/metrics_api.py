"""``GET /metrics``: the Prometheus metrics, their gauges read at each scrape. In production it
needs the signing key, like every route, unless ``--metrics-public``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stepwell.server.runtime import ServerRuntime


def routes(runtime: ServerRuntime) -> list[Route]:
    async def metrics(request: Request) -> Response:
        from stepwell.telemetry.prometheus import exposition

        body, content_type = await exposition(runtime.engine)
        return Response(body, media_type=content_type)

    return [Route("/metrics", metrics, methods=["GET"])]


def open_routes(runtime: ServerRuntime) -> list[Route]:
    """``/metrics`` when it is public: in production it otherwise needs the signing key."""
    return routes(runtime) if runtime.config.metrics_public else []
