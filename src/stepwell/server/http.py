"""What every API module shares at the HTTP boundary: reading bodies and query strings strictly,
answering errors, and one exception for a refused request.

A handler raises ``RequestRefused`` (or lets a helper here raise it); the app turns it into a
JSON answer naming what was wrong. Nothing is read past a size limit: ``Content-Length`` is
checked before the first byte, and the stream is counted when it is absent.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive

from stepwell.core import json_values
from stepwell.protocol.durations import DurationError, ms_from_instant

MAX_REQUEST_BYTES = 16 * 1024 * 1024
MAX_SMALL_BODY_BYTES = 1024 * 1024
"""Operations (cancel, pause, replay, rerun, signals) and GraphQL take small bodies."""

MAX_PAGE = 1000
"""The most items one page of a list answers; larger ``limit`` values are clamped to it."""

MIN_TIME_MS = 0
MAX_TIME_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


class StoredJSONResponse(JSONResponse):
    """JSON of what the store holds. Since the boundary refuses NaN and infinities nothing new
    holds them, but a database written by an older version might: such numbers are written
    as ``null`` rather than failing the read."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except ValueError:
            return super().render(_finite(content))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


def json_response(body: Any, status: int = 200) -> Response:
    return StoredJSONResponse(body, status_code=status)


def error(status: int, message: str, **extra: Any) -> Response:
    return JSONResponse({"error": message, "status": status, **extra}, status_code=status)


class RequestRefused(Exception):
    """A request answered with a 4xx; ``message`` says what was wrong. Raised before anything
    is changed, so a refused request leaves everything as it was."""

    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BodyTooLarge(RequestRefused):
    status = 413


async def read_body(request: Request, limit: int = MAX_REQUEST_BYTES) -> bytes:
    """The body, refused (413) past ``limit`` before it is read when its length is declared,
    and while streaming when it is not."""
    return await receive_body(request.headers.get("content-length"), request.receive, limit)


async def receive_body(declared: str | None, receive: Receive, limit: int) -> bytes:
    """``read_body`` on the raw ASGI messages, for a handler that has no ``Request``;
    ``declared`` is the ``Content-Length`` header, if any."""
    if declared is not None:
        text = declared.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise RequestRefused(f"Content-Length: expected a byte count, got {declared[:40]!r}")
        if int(text) > limit:
            raise BodyTooLarge(f"the request body is {text} bytes, over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            # Nothing was done with a body that never arrived whole; there is no one to answer.
            raise RequestRefused("the client went away before sending the whole body")
        if message["type"] != "http.request":
            continue
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"the request body is over the limit of {limit} bytes")
        if not message.get("more_body", False):
            if not chunks:
                return chunk  # the usual case: the whole body in one message
            chunks.append(chunk)
            return b"".join(chunks)
        chunks.append(chunk)


def parse_json(raw: bytes) -> Any:
    try:
        return json_values.loads(raw)
    except json_values.JsonValueError as exc:
        raise RequestRefused(f"Invalid request: the body is not valid JSON: {exc}") from None


async def read_json(request: Request, limit: int = MAX_REQUEST_BYTES) -> Any:
    """The body as strict JSON (no NaN, no lone surrogates, bounded depth and integers)."""
    return parse_json(await read_body(request, limit))


async def read_object(
    request: Request, limit: int = MAX_SMALL_BODY_BYTES, *, optional: bool = False
) -> dict[str, Any]:
    """A JSON object body; with ``optional`` an empty body is an empty object."""
    raw = await read_body(request, limit)
    if optional and not raw.strip():
        return {}
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise RequestRefused("Invalid request: the body must be a JSON object")
    return body


# -- fields of a body ------------------------------------------------------------------------


def optional_string(body: dict[str, Any], *names: str) -> str | None:
    """The first of ``names`` present and not empty, which must be a string."""
    for name in names:
        value = body.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise RequestRefused(f"{name}: expected a string, got {type(value).__name__}")
        return value
    return None


def time_ms(where: str, value: Any) -> int | None:
    """An RFC 3339 time, or whole milliseconds since the epoch; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RequestRefused(f"{where}: expected an RFC 3339 time or milliseconds")
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.lstrip("-").isdigit() and len(text) <= 16:
            ms = int(text)
        else:
            try:
                ms = ms_from_instant(text)  # naive times are UTC
            except (DurationError, OverflowError):
                shown = text[:60]
                raise RequestRefused(f"{where}: expected an RFC 3339 time, got {shown!r}") from None
    else:
        raise RequestRefused(f"{where}: expected an RFC 3339 time, got {type(value).__name__}")
    if not MIN_TIME_MS <= ms <= MAX_TIME_MS:
        raise RequestRefused(f"{where}: the time must lie between 1970 and 9999")
    return ms


# -- query strings ---------------------------------------------------------------------------


def query_limit(request: Request, default: int = 100) -> int:
    """``?limit=``: 1 to ``MAX_PAGE`` (larger values are clamped to it)."""
    text = request.query_params.get("limit")
    if text is None or text == "":
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise RequestRefused(f"limit: expected a whole number from 1 to {MAX_PAGE}")
    value = int(text)
    if value < 1:
        raise RequestRefused(f"limit: expected a whole number from 1 to {MAX_PAGE}")
    return min(value, MAX_PAGE)


def query_time_ms(request: Request, name: str) -> int | None:
    return time_ms(name, request.query_params.get(name))
