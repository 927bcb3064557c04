"""The framework-neutral handler: one ``HttpRequest`` in, one ``HttpResponse`` out.

``GET`` introspects (§4), ``PUT`` syncs (§3), ``POST`` runs a function (§5). In cloud mode
requests must carry a valid ``X-Inngest-Signature`` (§6.2): ``GET`` and ``POST`` always, ``PUT``
when unsigned syncs are disabled or the sync is in band. Every answer carries the SDK headers,
except ``401``, which carries none so a server cannot mistake it for an SDK's reply.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from stepwell.protocol import signing
from stepwell.protocol.registration import ROOT_STEP_ID
from stepwell.sdk import step_scope
from stepwell.sdk.app import App
from stepwell.sdk.function import Function
from stepwell.sdk.serve import execution
from stepwell.sdk.serve.client import ApiClient, ApiError
from stepwell.sdk.serve.config import ServeConfig
from stepwell.sdk.serve.messages import (
    SDK_VERSION,
    HttpRequest,
    HttpResponse,
    error_response,
    json_response,
    sdk_headers,
)
from stepwell.sdk.serve.registration import CAPABILITIES, Syncer, server_kind_of

log = logging.getLogger("stepwell.serve")

SCHEMA_VERSION = "2024-05-24"
SIGNATURE = "X-Inngest-Signature"
MAX_SIGNATURE_AGE_S = 5 * 60
"""Signatures older than this are refused: a captured request cannot be replayed later
(the TypeScript SDK's window; the Python SDK does not check)."""


@dataclass(frozen=True, slots=True)
class _Auth:
    """The outcome of checking a request's signature."""

    key: str | None = None
    """The signing key that signed the request (responses are then signed with it too)."""
    error: str | None = None

    @property
    def verified(self) -> bool:
        return self.key is not None


class Handler:
    def __init__(
        self,
        app: App,
        config: ServeConfig,
        framework: str,
        *,
        clock: Callable[[], float] = time.time,
        one_loop: bool = False,
    ) -> None:
        self.app = app
        self.config = config
        self.framework = framework
        self._clock = clock  # for the signature's age
        self._client = ApiClient(config, framework, one_loop=one_loop)
        # Read at each request: functions registered after serve() are served too.
        self._syncer = Syncer(app, config, framework, self._client)

    @property
    def _by_slug(self) -> dict[str, Function[Any]]:
        return {fn.slug: fn for fn in self.app.functions.values()}

    def too_large(self, limit: int) -> HttpResponse:
        """The answer to a request whose body is over ``limit`` bytes (it is not read past it)."""
        response = error_response(
            "request_too_large",
            f"the request body is over the limit of {limit} bytes",
            name="RequestTooLargeError",
            status=413,
        )
        return self._finish(response, _Auth(), time.perf_counter())

    async def handle(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        auth = self._authenticate(request)
        try:
            response = await self._dispatch(request, auth)
        except Exception as exc:  # a bug of ours must still answer like an SDK
            log.exception("stepwell could not handle %s %s", request.method, request.url)
            response = error_response("unknown", str(exc), name=type(exc).__name__)
        return self._finish(response, auth, started)

    async def _dispatch(self, request: HttpRequest, auth: _Auth) -> HttpResponse:
        if request.method == "GET":
            return self._unauthorized(auth) or self._introspect(request, auth)
        if request.method == "POST":
            return self._unauthorized(auth) or await self._call(request)
        if request.method == "PUT":
            return await self._sync(request, auth)
        return error_response(
            "method_not_allowed", f"{request.method} is not supported", status=405
        )

    # -- signatures -------------------------------------------------------------------------------

    def _authenticate(self, request: HttpRequest) -> _Auth:
        if self.config.is_dev:
            return _Auth()  # a dev server does not sign; nothing to check
        header = request.header(SIGNATURE)
        if not header:
            return _Auth(error=f"missing {SIGNATURE} header")
        now = self._clock()
        for key in self.config.signing_keys:
            if signing.verify(header, request.body, [key], max_age_s=MAX_SIGNATURE_AGE_S, now=now):
                return _Auth(key=key)
        return _Auth(error="signature verification failed")

    def _unauthorized(self, auth: _Auth) -> HttpResponse | None:
        if self.config.is_dev or auth.verified:
            return None
        log.warning("refusing an unsigned or wrongly signed request: %s", auth.error)
        return _unauthorized_response()

    # -- GET: introspection -----------------------------------------------------------------------

    def _introspect(self, request: HttpRequest, auth: _Auth) -> HttpResponse:
        kind = server_kind_of(request)
        if kind is not None and kind != self.config.mode.value:
            return json_response(403, {})
        body = self.inspection() if auth.verified else self._public_inspection()
        return json_response(200, body)

    def _public_inspection(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "function_count": len(self._user_functions()),
            "has_event_key": self.config.event_key is not None,
            "has_signing_key": self.config.signing_key is not None,
            "has_signing_key_fallback": self.config.signing_key_fallback is not None,
            "mode": self.config.mode.value,
        }

    def inspection(self) -> dict[str, Any]:
        """What a server that proved it holds the key may see (§4)."""
        config = self.config
        return {
            **self._public_inspection(),
            "api_origin": config.api_origin,
            "app_id": self.app.id,
            "authentication_succeeded": True,
            "capabilities": dict(CAPABILITIES),
            "env": config.env,
            "event_api_origin": config.event_origin,
            "event_key_hash": _sha256(config.event_key) if config.event_key else None,
            "framework": self.framework,
            "sdk_language": "py",
            "sdk_version": SDK_VERSION,
            "serve_origin": config.serve_origin,
            "serve_path": config.serve_path,
            "signing_key_fallback_hash": _hashed(config.signing_key_fallback),
            "signing_key_hash": _hashed(config.signing_key),
        }

    # -- PUT: sync --------------------------------------------------------------------------------

    async def _sync(self, request: HttpRequest, auth: _Auth) -> HttpResponse:
        in_band = not self.config.is_dev and request.header("X-Inngest-Sync-Kind") == "in_band"
        if in_band:
            if not auth.verified:
                return _unauthorized_response()
            return self._syncer.in_band(request, self.inspection())
        if not self.config.allow_unsigned_sync and not auth.verified:
            return _unauthorized_response()
        return await self._syncer.out_of_band(request)

    # -- POST: run a function ---------------------------------------------------------------------

    async def _call(self, request: HttpRequest) -> HttpResponse:
        query = request.query
        probe = query.get("probe")
        if probe:
            if probe == "trust":
                return json_response(200, None)  # the signature was checked: trusted
            return error_response("unknown", f"unsupported probe: {probe}")
        fn_id = query.get("fnId")
        if not fn_id:
            return error_response(
                "query_param_missing", "missing query param fnId", name="QueryParamMissingError"
            )
        fn = self.function(fn_id)
        if fn is None:
            return error_response(
                "function_not_found", f"function {fn_id} not found", name="FunctionNotFoundError"
            )
        try:
            call = execution.parse_call(request.body)
        except execution.BodyInvalid as exc:
            return error_response("body_invalid", str(exc), name="BodyInvalidError")
        step_id = query.get("stepId")
        target = None if step_id in (None, "", ROOT_STEP_ID) else step_id
        step_scope.follow(request.headers.get("traceparent"))  # user spans join the run's trace
        if call.request_id is None:
            call = replace(call, request_id=request.header("x-request-id") or None)
        try:
            return await execution.execute(
                fn,
                call,
                target,
                self._client,
                checkpoint=self.config.checkpoint,
                caller_gone=request.caller_gone,
            )
        except ApiError as exc:
            return error_response("unknown", str(exc), name="ApiError")

    def _user_functions(self) -> list[Function[Any]]:
        """Functions without the ``<id>-failure`` handlers (the Python SDK counts these)."""
        functions = self.app.functions
        return [
            fn
            for local_id, fn in functions.items()
            if not (
                local_id.endswith("-failure") and local_id.removesuffix("-failure") in functions
            )
        ]

    def function(self, fn_id: str) -> Function[Any] | None:
        # Old SDKs registered ids without the app prefix; the Python SDK still accepts them.
        return self._by_slug.get(fn_id) or self._by_slug.get(f"{self.app.id}-{fn_id}")

    # -- every response ---------------------------------------------------------------------------

    def _finish(self, response: HttpResponse, auth: _Auth, started: float) -> HttpResponse:
        timing = f"comm_handler;dur={int((time.perf_counter() - started) * 1000)}"
        if response.status != 401:
            response.headers.update(
                sdk_headers(
                    framework=self.framework,
                    env=self.config.env,
                    expected_server_kind=self.config.mode.value,
                )
            )
        response.headers["X-Inngest-SDK-Handled"] = "true"
        response.headers["Server-Timing"] = timing
        if auth.key is not None:
            # Responses are signed over their raw bytes, with the key the request proved.
            response.headers[SIGNATURE] = signing.signature(response.body, auth.key)
        return response


def _unauthorized_response() -> HttpResponse:
    return json_response(401, {"message": "Unauthorized"})


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _hashed(key: str | None) -> str | None:
    return signing.hashed_key(key) if key else None
