"""The event API (protocol.md §2): ``POST /e/{key}`` and ``POST /invoke/{slug}``."""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stepwell.core.ids import new_ulid, ulid_from_seed
from stepwell.engine.ingest import InvalidEventError
from stepwell.protocol import events as names
from stepwell.protocol.events import Event
from stepwell.server.http import BodyTooLarge, json_response, read_json, sdk_authorised
from stepwell.server.runtime import ServerRuntime

MAX_EVENTS_PER_REQUEST = 5000
SEED_REUSED = "X-Inngest-Event-Id-Seed: this seed was used for other events; send a fresh one"


def seeded_ids(header: str | None, count: int) -> list[str] | None:
    """Ids derived from ``X-Inngest-Event-Id-Seed: <millis>,<base64 10 bytes>``, if valid."""
    if not header or "," not in header:
        return None
    millis_text, entropy_text = header.split(",", 1)
    try:
        millis = int(millis_text)
        entropy = base64.b64decode(entropy_text, validate=True)
        return [ulid_from_seed(millis, entropy, i) for i in range(count)]
    except ValueError:
        return None


async def _stored(runtime: ServerRuntime, ids: list[str]) -> int:
    """How many of these ids are taken (a batch is stored whole or not at all)."""
    return len(await runtime.engine.store.get_events(ids))


def _refused(status: int, message: str) -> Response:
    return json_response({"ids": [], "status": status, "error": message}, status)


def _key_error(runtime: ServerRuntime, key: str) -> Response | None:
    config = runtime.config
    if config.dev:
        return None  # any key, including NO_EVENT_KEY_SET
    if not config.event_keys:
        return json_response(
            {"status": 503, "message": "", "error": "No event keys are configured"}, 503
        )
    if not key:
        return json_response({"status": 401, "message": "", "error": "Event key is required"}, 401)
    if key not in config.event_keys:
        return json_response({"status": 401, "message": "", "error": "Event key not found"}, 401)
    return None


async def invoke_function(runtime: ServerRuntime, slug: str, data: Any, user: Any = None) -> str:
    """Emit ``inngest/function.invoked`` for function ``slug``; returns the event's id."""
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


def routes(runtime: ServerRuntime) -> list[Route]:
    async def receive(request: Request) -> Response:
        refused = _key_error(runtime, request.path_params.get("key", ""))
        if refused is not None:
            return refused
        try:
            body = await read_json(request)
        except BodyTooLarge as exc:
            return _refused(413, str(exc))
        except ValueError as exc:
            return _refused(400, str(exc))
        batch: list[Any] = body if isinstance(body, list) else [body]
        if len(batch) > MAX_EVENTS_PER_REQUEST:
            return _refused(400, f"at most {MAX_EVENTS_PER_REQUEST} events per request")
        if not batch:
            return json_response({"ids": [], "status": 200})
        ids = seeded_ids(request.headers.get("x-inngest-event-id-seed"), len(batch))
        if ids is not None and (taken := await _stored(runtime, ids)):
            if taken == len(ids):
                # An SDK retrying a send whose answer it lost: the events are in (§2.3).
                return json_response({"ids": ids, "status": 200})
            return _refused(400, SEED_REUSED)
        try:
            sent = await runtime.engine.send(batch, internal_ids=ids)
        except InvalidEventError as exc:
            return _refused(400, str(exc))
        except Exception:
            if ids is not None and await _stored(runtime, ids) == len(ids):
                return json_response({"ids": ids, "status": 200})  # a concurrent retry won
            raise
        return json_response({"ids": sent, "status": 200})

    async def invoke(request: Request) -> Response:
        """Start a function directly with the body as its event's data (§2.5)."""
        if not sdk_authorised(request, runtime.config):
            return _refused(401, "Authentication failed")
        slug = request.path_params["slug"]
        try:
            body = await read_json(request) if await request.body() else {}
        except ValueError as exc:
            return _refused(400, str(exc))
        body = body if isinstance(body, dict) else {}
        try:
            event_id = await invoke_function(runtime, slug, body.get("data"), body.get("user"))
        except LookupError as exc:
            return _refused(404, str(exc))
        return json_response({"id": event_id, "status": 200})

    return [
        Route("/e/{key}", receive, methods=["POST"]),
        Route("/e/", receive, methods=["POST"]),
        Route("/invoke/{slug}", invoke, methods=["POST"]),
    ]
