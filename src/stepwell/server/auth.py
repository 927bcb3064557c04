"""Who may call what, in production mode (``stepwell start``): one guard in front of every route.

Every route needs the signing key (``Authorization: Bearer <key>`` or ``Bearer <sha256 of the
hex-decoded key>``, protocol §6.3), the current one or the fallback, except the routes the app
declares open: ``/health``, the event API (it checks event keys itself) and apps served on our SDK
on the same port (they verify request signatures themselves). The guard denies by default, so a
route added later is locked without anyone remembering to lock it. ``stepwell dev`` is open.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from stepwell.protocol.signing import hashed_key, strip_prefix
from stepwell.server.config import ServerConfig


def _accepted_tokens(key: str) -> list[bytes]:
    """The tokens a key may be presented as: the key itself and its hash (§6.3)."""
    return [strip_prefix(key).encode("utf-8"), hashed_key(key).encode("ascii")]


class Credentials:
    """Checks a raw ``Authorization`` header against the signing keys, as bytes (a header may
    hold any octets; comparing text would fail on non-ASCII ones)."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._tokens = [token for key in keys for token in _accepted_tokens(key)]

    def problem(self, authorization: bytes | None) -> str | None:
        """Why the header is refused, or None when it carries a valid key."""
        if not authorization:
            return "an 'Authorization: Bearer <signing key>' header is required"
        scheme, _, token = authorization.strip().partition(b" ")
        if scheme.lower() != b"bearer" or not token.strip():
            return "expected 'Authorization: Bearer <signing key>'"
        presented = token.strip()
        if presented.startswith(b"signkey-"):
            presented = strip_prefix(presented.decode("latin-1")).encode("latin-1")
        # Every token is compared (constant time each), so timing does not tell which matched.
        matched = False
        for accepted in self._tokens:
            matched |= hmac.compare_digest(presented, accepted)
        return None if matched else "the key does not match this server's signing key"


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
