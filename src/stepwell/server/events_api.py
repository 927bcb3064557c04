"""The event API (protocol.md §2): ``POST /e/{key}`` and ``POST /invoke/{slug}``."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from stepwell.core.ids import new_ulid, new_ulids, ulid_from_seed
from stepwell.engine.ingest import InvalidEventError
from stepwell.ports.records import StoredEvent
from stepwell.protocol import events as names
from stepwell.protocol.events import Event
from stepwell.server.config import ServerConfig
from stepwell.server.http import (
    MAX_REQUEST_BYTES,
    BodyTooLarge,
    RequestRefused,
    json_response,
    parse_json,
    read_object,
    receive_body,
)
from stepwell.server.runtime import ServerRuntime
from stepwell.server.send_groups import SendGroups

MAX_EVENTS_PER_REQUEST = 5000
MAX_EVENT_REQUEST_BYTES = 64 * 1024 * 1024
"""One ``POST /e/{key}`` as a whole. Inngest streams the body and caps only each event (3 MiB)
and their count; we read it whole, so the whole is capped too, well above a batch of big
events (twenty 3 MiB events fit)."""
MAX_SEED_MILLIS = 2**48 - 1  # a ULID's time part is 48 bits
SEED_REUSED = "X-Inngest-Event-Id-Seed: this seed was used for other events; send a fresh one"


def seeded_ids(header: str | None, count: int) -> list[str] | None:
    """Ids derived from ``X-Inngest-Event-Id-Seed: <millis>,<base64 of 10 bytes>`` (§2.3).

    None without a usable seed: as Inngest does, a malformed one (bad base64, milliseconds
    out of a ULID's 48 bits, negative) falls back to random ids rather than refusing events."""
    if header is None:
        return None
    millis_text, comma, entropy_text = header.strip().partition(",")
    if not comma or not (millis_text.isascii() and millis_text.isdigit()) or len(millis_text) > 15:
        return None
    millis = int(millis_text)
    try:
        entropy = base64.b64decode(entropy_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    if millis > MAX_SEED_MILLIS or len(entropy) != 10:
        return None
    return [ulid_from_seed(millis, entropy, i) for i in range(count)]


def _same_events(stored: list[StoredEvent], batch: list[Any]) -> bool:
    """Whether a retried send carries the events stored under its seed (the SDK lost our
    answer) rather than new ones reusing the seed."""
    for kept, raw in zip(stored, batch, strict=True):
        if not isinstance(raw, dict):
            return False
        event = kept.event
        if raw.get("name") != event.name or (raw.get("data") or {}) != event.data:
            return False
        if (raw.get("id") or "") != event.id or (raw.get("user") or {}) != event.user:
            return False
        if raw.get("ts") and raw.get("ts") != event.ts:
            return False
    return True


def _refused(status: int, message: str) -> Response:
    """``_refusal`` as a Starlette response (the routes other than the intake)."""
    code, body = _refusal(status, message)
    return Response(body, status_code=code, media_type="application/json")


Answer = tuple[int, bytes]
"""An answer of the event API: its status and its JSON body."""


def _json(body: dict[str, Any], status: int = 200) -> Answer:
    # As Starlette's JSONResponse writes it, which answered these before.
    text = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return status, text.encode("utf-8")


def _accepted(ids: list[str]) -> Answer:
    """``{"ids": [...], "status": 200}``, written directly: ids are ULIDs, which JSON
    writes as they are."""
    return 200, b'{"ids":["' + '","'.join(ids).encode("ascii") + b'"],"status":200}'


NO_IDS = (200, b'{"ids":[],"status":200}')


def _refusal(status: int, message: str) -> Answer:
    return _json({"ids": [], "status": status, "error": message}, status)


def _key_error(config: ServerConfig, key: str) -> Answer | None:
    if config.dev:
        return None  # any key, including NO_EVENT_KEY_SET
    if not config.event_keys:
        return _json({"status": 503, "message": "", "error": "No event keys are configured"}, 503)
    if not key:
        return _json({"status": 401, "message": "", "error": "Event key is required"}, 401)
    if key not in config.event_keys:
        return _json({"status": 401, "message": "", "error": "Event key not found"}, 401)
    return None


JSON_HEADERS = [(b"content-type", b"application/json")]
PLAIN_500 = b"Internal Server Error"
PLAIN_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]


class EventIntake:
    """``POST /e/{key}`` as a raw ASGI app: the route of the router, and what the app's front
    calls directly for these requests, ahead of Starlette's routing and middlewares (this is
    the server's hottest path). Answers exactly as a Starlette handler would, a failure
    included (500, ``Internal Server Error``, then raised for the server to log)."""

    def __init__(self, runtime: ServerRuntime) -> None:
        self._runtime = runtime
        self._history = runtime.engine.history
        self._groups = SendGroups(runtime.engine)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.serve(scope["path_params"].get("key", ""), scope, receive, send, [])

    async def serve(
        self,
        key: str,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        """Answer ``scope``, adding ``headers`` to the answer's."""
        try:
            status, body = await self.answer(key, scope["headers"], receive)
        except Exception:
            await _send(send, 500, PLAIN_500, [*PLAIN_HEADERS, *headers])
            raise
        await _send(send, status, body, [*JSON_HEADERS, *headers])

    async def answer(
        self, key: str, headers: list[tuple[bytes, bytes]], receive: Receive
    ) -> Answer:
        refused = _key_error(self._runtime.config, key)
        if refused is not None:
            return refused
        length = seed = None
        for name, value in headers:
            if name == b"content-length":
                length = value.decode("latin-1") if length is None else length
            elif name == b"x-inngest-event-id-seed":
                seed = value.decode("latin-1") if seed is None else seed
        try:
            body = parse_json(await receive_body(length, receive, MAX_EVENT_REQUEST_BYTES))
            batch: list[Any] = body if isinstance(body, list) else [body]
            if len(batch) > MAX_EVENTS_PER_REQUEST:
                raise RequestRefused(f"at most {MAX_EVENTS_PER_REQUEST} events per request")
        except RequestRefused as exc:
            return _refusal(exc.status, exc.message)
        if not batch:
            return NO_IDS
        return await self._store(batch, seeded_ids(seed, len(batch)))

    async def _store(self, batch: list[Any], ids: list[str] | None) -> Answer:
        history = self._history
        if ids is not None and (taken := await history.get_events(ids)):
            if len(taken) == len(ids) and _same_events(taken, batch):
                # An SDK retrying a send whose answer it lost: the events are in (§2.3).
                return _accepted(ids)
            return _refusal(400, SEED_REUSED)
        engine = self._runtime.engine
        # Made here, so the answer is written without going back over the events (the
        # writer thread has touched them since: their memory is the other core's by then).
        given = ids if ids is not None else new_ulids(len(batch))
        try:
            stored = engine.validate(batch, given, loaded=True)
        except InvalidEventError as exc:
            return _refusal(400, str(exc))
        try:
            if ids is None:
                await self._groups.ingest(stored)
            else:  # alone: a concurrent retry with the same seed must not fail the others
                await engine.ingest(stored)
        except InvalidEventError as exc:
            return _refusal(400, str(exc))
        except Exception:
            if ids is not None and len(await history.get_events(ids)) == len(ids):
                return _accepted(ids)  # a concurrent retry won
            raise
        return _accepted(given)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    # Content-Length first, as Starlette's responses put it.
    length = (b"content-length", str(len(body)).encode("ascii"))
    await send({"type": "http.response.start", "status": status, "headers": [length, *headers]})
    await send({"type": "http.response.body", "body": body})


def _optional_object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestRefused(f"{name}: expected a JSON object, got {type(value).__name__}")
    return value


async def invoke_function(runtime: ServerRuntime, slug: str, data: Any, user: Any = None) -> str:
    """Emit ``inngest/function.invoked`` for function ``slug``; returns the event's id.

    Raises ``LookupError`` for an unknown function and ``InvalidEventError`` for data that
    cannot make an event (not JSON, over the size limit)."""
    if runtime.engine.registry.get(slug) is None:
        raise LookupError(f"function {slug!r} not found")
    payload = dict(data) if isinstance(data, dict) else {}
    payload["_inngest"] = {"fn_id": slug}
    event_id = new_ulid()
    await runtime.engine.send_internal(
        [
            Event(
                name=names.FUNCTION_INVOKED,
                data=payload,
                user=dict(user) if isinstance(user, dict) else {},
            )
        ],
        internal_ids=[event_id],
    )
    return event_id


def routes(runtime: ServerRuntime, intake: EventIntake | None = None) -> list[Route]:
    """The event API's routes; ``intake`` is the one the app's front also calls directly."""
    intake = intake or EventIntake(runtime)

    async def invoke(request: Request) -> Response:
        """Start a function directly with the body as its event's data (§2.5)."""
        slug = request.path_params["slug"]
        try:
            body = await read_object(request, MAX_REQUEST_BYTES, optional=True)
            data, user = _optional_object(body, "data"), _optional_object(body, "user")
        except BodyTooLarge as exc:
            return _refused(413, exc.message)
        except RequestRefused as exc:
            return _refused(exc.status, exc.message)
        try:
            event_id = await invoke_function(runtime, slug, data, user)
        except LookupError as exc:
            return _refused(404, str(exc))
        except InvalidEventError as exc:
            return _refused(400, f"data: {exc.reason}")
        return json_response({"id": event_id, "status": 200})

    return [
        Route("/e/{key}", intake, methods=["POST"]),
        Route("/e/", intake, methods=["POST"]),
        Route("/invoke/{slug}", invoke, methods=["POST"]),
    ]
