"""App sync (protocol.md §3.5, §8): ``/fn/register``, ``/fn/remove``, ``/dev``, ``/health``."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import stepwell
from stepwell.engine.registry import FunctionSpec
from stepwell.protocol.registration import RegistrationError
from stepwell.server.http import error, json_response, read_json
from stepwell.server.runtime import ServerRuntime

log = logging.getLogger("stepwell.server.sync")


def function_json(spec: FunctionSpec) -> dict[str, Any]:
    triggers: list[dict[str, Any]] = [
        {"event": t.event, **({"expression": t.expression} if t.expression else {})}
        for t in spec.triggers
    ]
    triggers += [{"cron": c.cron} for c in spec.crons]
    return {
        "id": spec.uuid,
        "name": spec.name,
        "slug": spec.slug,
        "app_id": spec.app_id,
        "triggers": triggers,
        "steps": [
            {
                "id": "step",
                "name": "step",
                "uri": spec.url or "",
                "retries": {"attempts": spec.retries},
            }
        ],
    }


def routes(runtime: ServerRuntime) -> list[Route]:
    config = runtime.config

    async def register(request: Request) -> Response:
        expected = request.headers.get("x-inngest-expected-server-kind")
        if expected and expected != config.server_kind:
            return error(400, f"Expected server kind {config.server_kind}, got {expected}")
        payload: Any = None
        try:
            payload = await read_json(request)
            result = await runtime.catalog.sync(payload)
        except (ValueError, RegistrationError) as exc:
            url = payload.get("url") if isinstance(payload, dict) else None
            log.warning("sync refused (%s): %s", url or "no url given", exc, extra={"url": url})
            return error(400, str(exc), data=None)
        return json_response(
            {
                "ok": True,
                "modified": result.modified,
                "app_id": result.app_uuid,
                "sync_id": result.sync_id,
            }
        )

    async def remove(request: Request) -> Response:
        url = request.query_params.get("url", "")
        gone = await runtime.syncer.forget(url)
        if not gone:
            return error(404, f"no app is served at {url!r}")
        return json_response({"ok": True, "removed": gone})

    async def dev_info(request: Request) -> Response:
        if not config.dev:
            return error(404, "not found")
        specs = sorted(runtime.engine.registry, key=lambda s: s.slug)
        return json_response(
            {
                "version": stepwell.__version__,
                "authed": False,
                "startOpts": {
                    "dev": True,
                    "sdkURLs": config.sdk_urls,
                    "pollInterval": config.poll_interval_s,
                    "retryInterval": config.retry_interval_s,
                    "noDiscovery": not config.discovery,
                },
                "functions": [function_json(spec) for spec in specs],
                "handlers": [
                    {"url": app.url, "app": app.name, "error": runtime.syncer.errors.get(app.url)}
                    for app in runtime.catalog.apps()
                ],
                "features": {},
            }
        )

    async def app_functions(request: Request) -> Response:
        """``GET /v1/apps/{app}/functions``: a synced app and its functions (§8)."""
        name = request.path_params["app"]
        app = runtime.catalog.get(name)
        if app is None:
            return error(404, f"no app named {name!r}")
        specs = sorted(runtime.engine.registry.of_app(name), key=lambda s: s.slug)
        return json_response(
            {
                "data": {
                    "app": {"id": app.app_uuid, "name": app.name, "url": app.url},
                    "functions": [function_json(spec) for spec in specs],
                }
            }
        )

    async def health(request: Request) -> Response:
        """200 while the database answers; 503 (naming why) when it cannot be reached."""
        problem = await runtime.engine.database_problem()
        if problem is not None:
            return json_response({"status": 503, "message": problem}, 503)
        return json_response({"status": 200, "message": "OK"})

    return [
        Route("/fn/register", register, methods=["POST"]),
        Route("/fn/remove", remove, methods=["DELETE"]),
        Route("/dev", dev_info, methods=["GET"]),
        Route("/v1/apps/{app}/functions", app_functions, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
