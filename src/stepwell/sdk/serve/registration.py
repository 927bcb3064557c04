"""Sync (protocol.md §3): describe the app's functions and register them with the server.

The functions are described with the wire types of ``protocol.registration`` (which builds the
payload and parses it on the server's side); this module says what our functions are in them.

A ``PUT`` to the app starts a sync. Out of band (the default) the app POSTs its functions to
``{api}/fn/register`` and answers the ``PUT`` with the server's reply; in band (cloud mode,
signed ``PUT`` with ``X-Inngest-Sync-Kind: in_band``) the answer itself carries the functions.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from stepwell.protocol.registration import (
    ROOT_STEP_ID,
    AppRegistration,
    FunctionConfig,
    TriggerConfig,
    in_band_answer,
)
from stepwell.sdk.app import App
from stepwell.sdk.function import Function
from stepwell.sdk.serve.client import ApiClient, ApiError
from stepwell.sdk.serve.config import ServeConfig
from stepwell.sdk.serve.flow_wire import flow_options
from stepwell.sdk.serve.messages import (
    SDK_REGISTER,
    HttpRequest,
    HttpResponse,
    error_response,
    json_response,
)

log = logging.getLogger("stepwell.serve")

CAPABILITIES = {"in_band_sync": "v1", "trust_probe": "v1"}
SYNC_KIND = "X-Inngest-Sync-Kind"


def serve_url(request_url: str, config: ServeConfig) -> str:
    """The URL to register: the request's, without query, with the configured overrides (§1.3)."""
    scheme, netloc, path, _, _ = urlsplit(request_url)
    if config.serve_origin:
        if "://" in config.serve_origin:
            origin = urlsplit(config.serve_origin)
            scheme, netloc = origin.scheme or scheme, origin.netloc or netloc
        else:
            scheme, netloc = "https", config.serve_origin
    if config.serve_path:
        path = config.serve_path
    return urlunsplit((scheme, netloc, path, "", ""))


def function_config(fn: Function[Any], app_url: str) -> FunctionConfig:
    """One function as ``/fn/register`` carries it (§3.3)."""
    spec = fn.spec
    triggers = [TriggerConfig(event=t.event, expression=t.expression) for t in spec.triggers]
    triggers += [TriggerConfig(cron=c.cron, jitter=c.jitter) for c in spec.crons]
    query = urlencode({"fnId": spec.slug, "stepId": ROOT_STEP_ID})
    return FunctionConfig(
        slug=spec.slug,
        name=spec.name,
        url=f"{app_url}?{query}",
        triggers=triggers,
        retries=spec.retries,
        options=flow_options(spec.flow, spec.cancel_on),
    )


def app_registration(
    app_id: str, functions: Iterable[Function[Any]], app_url: str, framework: str
) -> AppRegistration:
    return AppRegistration(
        app_name=app_id,
        url=app_url,
        sdk=SDK_REGISTER,
        framework=framework,
        functions=[function_config(fn, app_url) for fn in functions],
        capabilities=dict(CAPABILITIES),
    )


def server_kind_of(request: HttpRequest) -> str | None:
    """The ``X-Inngest-Server-Kind`` header if it names a kind we know (else ignored, as PY)."""
    kind = request.header("X-Inngest-Server-Kind")
    if kind in ("dev", "cloud"):
        return kind
    if kind is not None:
        log.warning("ignoring unknown X-Inngest-Server-Kind %r", kind)
    return None


class Syncer:
    def __init__(self, app: App, config: ServeConfig, framework: str, client: ApiClient) -> None:
        self._app = app
        self._config = config
        self._framework = framework
        self._client = client

    async def out_of_band(self, request: HttpRequest) -> HttpResponse:
        kind = server_kind_of(request)
        if kind is not None and kind != self._config.mode.value:
            message = (
                "Sync rejected since it's from a Dev Server but expected Cloud"
                if kind == "dev"
                else "Sync rejected since it's from Cloud but expected Dev Server"
            )
            log.error(message)
            return error_response("server_kind_mismatch", message, status=400)
        functions = list(self._app.functions.values())
        if not functions:
            return error_response(
                "function_config_invalid", "no functions found", name="FunctionConfigInvalidError"
            )
        app_url = serve_url(request.url, self._config)
        payload = app_registration(self._app.id, functions, app_url, self._framework).to_wire()
        try:
            reply = await self._client.register(
                payload, deploy_id=request.query.get("deployId"), server_kind=kind
            )
        except ApiError as exc:
            log.error("sync failed: %s", exc)
            return error_response("unknown", str(exc), name="ApiError")
        headers = {SYNC_KIND: "out_of_band"}
        try:
            body = reply.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return error_response(
                "registration_failed",
                f"the server answered {reply.status_code} without a JSON object",
                name="RegistrationFailedError",
                headers=headers,
            )
        if reply.status_code >= 400:
            # The Python SDK means to surface this but drops it (always 200); we pass it on so
            # whoever sent the PUT sees why the sync failed.
            message = body.get("error") or body.get("message") or "registration failed"
            log.error("sync refused by the server (%s): %s", reply.status_code, message)
            return error_response(
                "registration_failed",
                str(message).strip(),
                name="RegistrationFailedError",
                status=reply.status_code,
                headers=headers,
            )
        return json_response(200, body, headers)

    def in_band(self, request: HttpRequest, inspection: dict[str, Any]) -> HttpResponse:
        """Answer a signed in-band sync with the functions themselves (cloud mode only)."""
        try:
            wanted = json.loads(request.body or b"{}")
        except ValueError:
            wanted = None
        if not isinstance(wanted, dict) or not isinstance(wanted.get("url"), str):
            return error_response(
                "body_invalid", 'an in-band sync body must be {"url": string}', status=400
            )
        app_url = serve_url(wanted["url"], self._config)
        functions = self._app.functions.values()
        registration = app_registration(self._app.id, functions, app_url, self._framework)
        body = in_band_answer(
            registration, env=self._config.env, inspection=inspection, sdk_author="stepwell"
        )
        return json_response(200, body, {SYNC_KIND: "in_band"})
