"""Who may call what, in production mode (``stepwell start``): one guard in front of every route.

Every route needs the signing key (``Authorization: Bearer <key>`` or ``Bearer <sha256 of the
hex-decoded key>``, protocol §6.3), the current one or the fallback, except the routes the app
declares open: ``/health``, the event API (it checks event keys itself) and apps served on our SDK
on the same port (they verify request signatures themselves). The guard denies by default, so a
route added later is locked without anyone remembering to lock it. ``stepwell dev`` is open.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from stepwell.protocol.signing import bearer_problem, bearer_tokens
from stepwell.server.config import ServerConfig


class Credentials:
    """Checks a raw ``Authorization`` header against the signing keys (the rule itself is
    ``protocol.signing.bearer_problem``; the accepted tokens are computed once here)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._tokens = [token for key in keys for token in bearer_tokens(key)]

    def problem(self, authorization: bytes | None) -> str | None:
        """Why the header is refused, or None when it carries a valid key."""
        return bearer_problem(authorization, self._tokens)


def _refusal(reason: str) -> bytes:
    message = f"Authentication failed: {reason}"
    return json.dumps({"error": message, "status": 401, "errors": [{"message": message}]}).encode(
        "utf-8"
    )


class SigningKeyGuard:
    """ASGI middleware: in production mode, refuse (401) any request to a route not declared
    open unless it carries a signing key."""

    def __init__(
        self, app: ASGIApp, config: ServerConfig, open_routes: Sequence[BaseRoute]
    ) -> None:
        self._app = app
        self._open_routes = list(open_routes)
        self._enabled = not config.dev
        self._credentials = Credentials(config.signing_keys)

    def is_open(self, scope: Scope) -> bool:
        return any(route.matches(scope)[0] is not Match.NONE for route in self._open_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if not self._enabled or kind not in ("http", "websocket") or self.is_open(scope):
            await self._app(scope, receive, send)
            return
        authorization = next(
            (value for name, value in scope["headers"] if name == b"authorization"), None
        )
        problem = self._credentials.problem(authorization)
        if problem is None:
            await self._app(scope, receive, send)
            return
        if kind == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "Authentication failed"})
            return
        body = _refusal(problem)
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode("ascii")),
                    (b"www-authenticate", b'Bearer realm="stepwell"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
