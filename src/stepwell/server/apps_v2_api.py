"""The ``/v2`` apps API: list, sync and remove apps, list and invoke their functions.

``POST /v2/apps/{app}/functions/{fn}/invoke`` starts a run; with ``?wait=true`` it waits (at
most ``?timeout=`` seconds, default 30, up to 300) and answers the run's output, or 202 with
the run still going when the time is up. ``{fn}`` is the function's id in its app or its
full slug.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stepwell.engine.ingest import InvalidEventError
from stepwell.engine.registry import FunctionSpec
from stepwell.ports.records import AppRecord
from stepwell.server.events_api import invoke_function
from stepwell.server.http import RequestRefused, error, json_response, optional_string, read_object
from stepwell.server.rest_shapes import app_v2, run_v2
from stepwell.server.runtime import ServerRuntime
from stepwell.server.sync_api import function_json
from stepwell.server.syncer import normalise_url

MAX_WAIT_S = 300.0
DEFAULT_WAIT_S = 30.0
MAX_URL = 2048


def function_v2(spec: FunctionSpec) -> dict[str, Any]:
    shape = function_json(spec)
    return {
        "id": spec.uuid,
        "slug": spec.slug,
        "name": spec.name,
        "appId": spec.app_id,
        "url": spec.url,
        "paused": spec.paused,
        "triggers": shape["triggers"],
    }


def _flag(request: Request, name: str) -> bool:
    text = request.query_params.get(name, "").strip().lower()
    if text in ("", "0", "false", "no"):
        return False
    if text in ("1", "true", "yes"):
        return True
    raise RequestRefused(f"{name}: expected true or false, got {text[:40]!r}")


def _seconds(request: Request) -> float:
    text = request.query_params.get("timeout")
    if text is None or text == "":
        return DEFAULT_WAIT_S
    try:
        value = float(text)
    except ValueError:
        raise RequestRefused(f"timeout: expected seconds, got {text[:40]!r}") from None
    if not math.isfinite(value) or not 0 < value <= MAX_WAIT_S:
        raise RequestRefused(f"timeout: expected more than 0 and at most {MAX_WAIT_S:g} seconds")
    return value


def routes(runtime: ServerRuntime) -> list[Route]:
    engine = runtime.engine
    catalog = runtime.catalog

    def _app(request: Request) -> AppRecord:
        name = request.path_params["app"]
        app = catalog.get(name)
        if app is None:
            raise RequestRefused(f"no app named {name!r}", 404)
        return app

    def _json(app: AppRecord) -> dict[str, Any]:
        count = len(engine.registry.of_app(app.name))
        return app_v2(app, functions=count, error=runtime.syncer.errors.get(app.url))

    async def list_apps(request: Request) -> Response:
        return json_response({"data": [_json(app) for app in catalog.apps()]})

    async def sync_app(request: Request) -> Response:
        body = await read_object(request)
        raw = optional_string(body, "url")
        if raw is None or len(raw) > MAX_URL:
            raise RequestRefused(f"url: the app's URL is required (at most {MAX_URL} characters)")
        parts = urlsplit(raw.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RequestRefused(f"url: expected an http:// or https:// URL, got {raw[:80]!r}")
        url = normalise_url(raw.strip())
        problem = await runtime.syncer.ping(url)
        if problem is not None:
            return error(422, f"url: {problem}", url=url)
        runtime.syncer.add_url(url)
        synced = [app for app in catalog.apps() if app.url == url]
        return json_response({"data": _json(synced[0]) if synced else {"url": url}})

    async def remove_app(request: Request) -> Response:
        app = _app(request)
        await runtime.syncer.forget(app.url)
        return json_response({"data": {"name": app.name, "removed": True}})

    async def functions(request: Request) -> Response:
        app = _app(request)
        specs = sorted(engine.registry.of_app(app.name), key=lambda s: s.slug)
        return json_response({"data": [function_v2(spec) for spec in specs]})

    async def invoke(request: Request) -> Response:
        app = _app(request)
        wait = _flag(request, "wait")
        timeout = _seconds(request)
        body = await read_object(request, optional=True)
        data = body.get("data", {})
        if not isinstance(data, dict):
            raise RequestRefused("data: expected a JSON object")
        name = request.path_params["fn"]
        slug = name if name.startswith(f"{app.name}-") else f"{app.name}-{name}"
        if engine.registry.get(slug) is None:
            return error(404, f"app {app.name!r} has no function {name!r}")
        try:
            event_id = await invoke_function(runtime, slug, data, body.get("user"))
        except InvalidEventError as exc:
            raise RequestRefused(f"data: {exc}") from None
        if not wait:
            runs = await engine.list_runs(event_id=event_id)
            run_id = runs[0].run_id if runs else None
            return json_response({"data": {"eventId": event_id, "runId": run_id}}, 202)
        try:
            [run, *_] = await engine.wait_for_runs(event_id, timeout=timeout)
        except TimeoutError:
            runs = await engine.list_runs(event_id=event_id)
            going = run_v2(runs[0]) if runs else None
            return json_response({"data": {"eventId": event_id, "run": going}}, 202)
        return json_response({"data": {"eventId": event_id, "run": run_v2(run)}})

    return [
        Route("/v2/apps", list_apps, methods=["GET"]),
        Route("/v2/apps", sync_app, methods=["POST"]),
        Route("/v2/apps/{app}", remove_app, methods=["DELETE"]),
        Route("/v2/apps/{app}/functions", functions, methods=["GET"]),
        Route("/v2/apps/{app}/functions/{fn}/invoke", invoke, methods=["POST"]),
    ]
