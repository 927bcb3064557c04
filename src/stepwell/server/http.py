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


async def read_json(request: Request) -> Any:
    """The body as JSON; raises ValueError with a readable reason."""
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"Invalid request: the body is not valid JSON ({exc})") from None


def sdk_authorised(request: Request, config: ServerConfig) -> bool:
    """SDK → server calls (§6.3): anything goes in dev mode; a Bearer key in production."""
    if config.dev or not config.signing_key:
        return True
    return signing.bearer_ok(request.headers.get("authorization"), config.signing_key)
