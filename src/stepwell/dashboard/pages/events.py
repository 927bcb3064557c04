"""The events pages: every event newest first, one event with its payload and runs, Replay,
copy as curl, and the Send event dialog's endpoint (``POST /ui/events/send``)."""

from __future__ import annotations

import json
import shlex
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from stepwell.dashboard.context import DashboardContext
from stepwell.dashboard.forms import (
    ERROR_SWAP,
    FormError,
    form_fields,
    is_htmx,
    json_field,
    lead_to,
)
from stepwell.dashboard.templating import render
from stepwell.engine.ingest import InvalidEventError
from stepwell.ports.records import StoredEvent
from stepwell.protocol.events import INTERNAL_PREFIX

PAGE_SIZE = 50
MAX_FILTER_CHARS = 255  # an event name is at most this long


def _ctx(request: Request) -> DashboardContext:
    ctx = request.state.ctx
    assert isinstance(ctx, DashboardContext)
    return ctx


def notice(request: Request, message: str, status: int = 400) -> Response:
    """A refusal as a fragment (htmx) or a page (plain form), saying what was wrong."""
    page = "_events_notice.html" if is_htmx(request) else "events_notice.html"
    return render(request, page, status_code=status, message=message)


def replay_refusal(ctx: DashboardContext, event: StoredEvent) -> str | None:
    """Why this event cannot be replayed from here, or None when it can."""
    if not ctx.can_act:
        return ctx.read_only_reason or "this dashboard cannot act on the server"
    if event.event.name.startswith(INTERNAL_PREFIX):
        return f"{INTERNAL_PREFIX}… events are sent by the server itself"
    return None


def resendable(event: StoredEvent) -> dict[str, Any]:
    """What a replay sends again: the same name, data and user, as a new event (no id: a
    sender's id is an idempotency key and would make the copy a no-op)."""
    body: dict[str, Any] = {"name": event.event.name, "data": event.event.data}
    if event.event.user:
        body["user"] = event.event.user
    return body


def curl_command(request: Request, ctx: DashboardContext, event: StoredEvent) -> str:
    """``curl`` that sends the event again to this server (in dev any key is accepted)."""
    dev = ctx.runtime is None or ctx.runtime.config.dev
    key = "dev" if dev else "$INNGEST_EVENT_KEY"
    origin = f"{request.url.scheme}://{request.url.netloc}"
    body = json.dumps(resendable(event), ensure_ascii=False, separators=(",", ":"))
    url = f"{origin}/e/{key}" if dev else f'"{origin}/e/{key}"'  # the key from the shell
    return f"curl -X POST {url} -H 'Content-Type: application/json' -d {shlex.quote(body)}"


def routes(ctx: DashboardContext) -> list[BaseRoute]:
    del ctx  # each request carries it (request.state.ctx)

    async def list_page(request: Request) -> Response:
        ctx = _ctx(request)
        name = request.query_params.get("name", "").strip()[:MAX_FILTER_CHARS]
        before = request.query_params.get("before", "").strip()[:64] or None
        found = await ctx.history.list_events(
            name=name or None, limit=PAGE_SIZE + 1, before_id=before
        )
        events, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
        return render(
            request,
            "events.html",
            events=events,
            name=name,
            before=before,
            older=events[-1].internal_id if more and events else None,
            preview=_preview,
            error_swap=ERROR_SWAP,
        )

    async def event_page(request: Request) -> Response:
        ctx = _ctx(request)
        event_id = request.path_params["event_id"]
        found = await ctx.history.get_events([event_id]) if len(event_id) <= 64 else []
        if not found:
            return render(request, "event_missing.html", status_code=404, event_id=event_id)
        event = found[0]
        runs = await ctx.history.list_runs(event_id=event.internal_id, limit=100)
        return render(
            request,
            "event.html",
            event=event,
            payload=json.dumps(event.to_wire(), indent=2, ensure_ascii=False),
            runs=runs,
            refusal=replay_refusal(ctx, event),
            curl=curl_command(request, ctx, event),
            error_swap=ERROR_SWAP,
        )

    async def replay(request: Request) -> Response:
        ctx = _ctx(request)
        event_id = request.path_params["event_id"]
        found = await ctx.history.get_events([event_id]) if len(event_id) <= 64 else []
        if not found:
            return notice(request, f"No event has the id {event_id!r}.", 404)
        refusal = replay_refusal(ctx, found[0])
        if refusal is not None or ctx.engine is None:
            return notice(request, f"This event cannot be replayed: {refusal}.", 409)
        try:
            sent = await ctx.engine.send(resendable(found[0]))
        except InvalidEventError as exc:
            return notice(request, f"The event was refused: {exc.reason}")
        return lead_to(request, f"/events/{sent[0]}")

    async def send(request: Request) -> Response:
        ctx = _ctx(request)
        if not ctx.can_act or ctx.engine is None:
            reason = ctx.read_only_reason or "this dashboard cannot act on the server"
            return notice(request, f"Events cannot be sent from here: {reason}.", 409)
        try:
            fields = await form_fields(request)
            body = json_field(fields, "event", "Event")
        except FormError as exc:
            return notice(request, exc.message, exc.status)
        if not isinstance(body, dict):
            return notice(request, 'Event: expected a JSON object, {"name": …, "data": {…}}.')
        if not isinstance(body.get("name"), str) or not body["name"].strip():
            return notice(request, "Event: name: every event needs a name (a non-empty string).")
        try:
            sent = await ctx.engine.send(body)
        except InvalidEventError as exc:
            return notice(request, f"Event: {exc.reason}")
        return render(request, "_events_sent.html", event_id=sent[0], name=body["name"])

    return [
        Route("/events", list_page, methods=["GET"]),
        Route("/events/{event_id}", event_page, methods=["GET"]),
        Route("/events/{event_id}/replay", replay, methods=["POST"]),
        Route("/ui/events/send", send, methods=["POST"]),
    ]


def _preview(event: StoredEvent, limit: int = 120) -> str:
    """The event's data on one line, cut short for the list."""
    text = json.dumps(event.event.data, ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= limit else text[: limit - 1] + "…"
