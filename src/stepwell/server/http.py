"""Small helpers shared by the API modules: JSON responses, bodies, auth checks."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from stepwell.protocol import signing
from stepwell.server.config import ServerConfig


def json_response(body: Any, status: int = 200) -> Response:
    return JSONResponse(body, status_code=status)


def error(status: int, message: str, **extra: Any) -> Response:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


MAX_REQUEST_BYTES = 16 * 1024 * 1024


class BodyTooLarge(ValueError):
    """A request body over the limit; nothing of it was processed."""


async def read_body(request: Request, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """The body, read as a stream so an oversized one is refused without holding it all."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"the request body is {declared} bytes, over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int = MAX_REQUEST_BYTES) -> Any:
    """The body as JSON; raises ValueError (``BodyTooLarge`` for size) with a clear reason."""
    raw = await read_body(request, limit)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"Invalid request: the body is not valid JSON ({exc})") from None


def sdk_authorised(request: Request, config: ServerConfig) -> bool:
    """SDK → server calls (§6.3): anything goes in dev mode; a Bearer key in production."""
    if config.dev or not config.signing_key:
        return True
    return signing.bearer_ok(request.headers.get("authorization"), config.signing_key)
