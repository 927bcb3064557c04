"""Connect over HTTP, on the API port: the start handshake, reply flushes, the worker list.

``POST /v0/connect/start`` (a protobuf ``StartRequest``) answers a ``StartResponse``: a new
connection id, the gateway's WebSocket URL (``ws://<host>:<gateway port>/v0/connect``) and the
tokens the worker shows in its ``WORKER_CONNECT``. In production (``stepwell start``) the route
needs the signing key like every other (``SigningKeyGuard``), and the session token is an HMAC
of the connection id under the signing key, so the gateway checks it without any state.

``POST /v0/connect/flush`` takes a reply (``SDKResponse``) a worker could not get acknowledged
over its socket. ``GET /v0/connect/workers`` lists the open connections.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stepwell.core.ids import new_ulid
from stepwell.protocol import signing
from stepwell.protocol.connect_wire import Reply, WireError, decode, encode
from stepwell.server.http import error, json_response, read_body
from stepwell.server.runtime import ServerRuntime

MAX_START_BYTES = 64 * 1024
MAX_FLUSH_BYTES = 8 * 1024 * 1024
GATEWAY_PATH = "/v0/connect"
PROTOBUF = "application/protobuf"
DEV_TOKEN = "stepwell-dev"


def session_token(conn_id: str, key: str) -> str:
    secret = bytes.fromhex(signing.strip_prefix(key))
    digest = hmac.new(secret, f"connect:{conn_id}".encode(), hashlib.sha256).hexdigest()
    return f"swc-{digest}"


def token_problem(conn_id: str, token: str, keys: Sequence[str]) -> str | None:
    """Why a worker's session token is refused (None: it was issued for this connection)."""
    if not token:
        return "the session token is missing (ask /v0/connect/start for one)"
    for key in keys:
        if hmac.compare_digest(token, session_token(conn_id, key)):
            return None
    return "the session token was not issued for this connection id"


def routes(runtime: ServerRuntime) -> list[Route]:
    config = runtime.config
    hub = runtime.connect_hub

    async def start(request: Request) -> Response:
        body = await read_body(request, MAX_START_BYTES)
        try:
            decode("StartRequest", body)
        except WireError as exc:
            return error(400, f"body: {exc}")
        conn_id = new_ulid()
        key = config.signing_key
        token = session_token(conn_id, key) if key and not config.dev else DEV_TOKEN
        host = request.url.hostname or config.host
        if ":" in host:
            host = f"[{host}]"
        answer = encode(
            "StartResponse",
            connection_id=conn_id,
            gateway_endpoint=f"ws://{host}:{config.gateway_port}{GATEWAY_PATH}",
            gateway_group="stepwell",
            session_token=token,
            sync_token=token,
        )
        return Response(answer, media_type=PROTOBUF)

    async def flush(request: Request) -> Response:
        body = await read_body(request, MAX_FLUSH_BYTES)
        try:
            reply = Reply.parse(body)
        except WireError as exc:
            return error(400, f"body: {exc}")
        if not reply.request_id:
            return error(400, "request_id: the reply names no request")
        hub.answer(reply)  # an unknown request (answered, or lost) is dropped
        return Response(encode("FlushResponse", request_id=reply.request_id), media_type=PROTOBUF)

    async def workers(request: Request) -> Response:
        return json_response({"data": hub.snapshot()})

    return [
        Route("/v0/connect/start", start, methods=["POST"]),
        Route("/v0/connect/flush", flush, methods=["POST"]),
        Route("/v0/connect/workers", workers, methods=["GET"]),
    ]
