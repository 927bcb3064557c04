"""The apps page: each synced app's URL, SDK, last sync and its result, functions; Sync, Remove
(after a Confirm) and Add app by URL, all through the server's syncer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from stepwell.dashboard.context import DashboardContext
from stepwell.dashboard.forms import ERROR_SWAP, FormError, form_fields, is_htmx, lead_to
from stepwell.dashboard.pages.events import notice
from stepwell.dashboard.templating import render
from stepwell.drivers.connect.urls import is_connect_url
from stepwell.ports.records import AppRecord
from stepwell.server.gql_connect import all_nodes
from stepwell.server.syncer import normalise_url

MAX_URL_CHARS = 2048
LANGUAGES = {"py": "Python", "js": "TypeScript", "ts": "TypeScript", "go": "Go"}


@dataclass(frozen=True, slots=True)
class AppRow:
    app: AppRecord
    language: str
    version: str
    framework: str
    functions: int
    error: str | None
    problem: str | None  # the stored app no longer parses (skipped, not served)
    workers: tuple[dict[str, Any], ...] = ()  # its Connect workers' open connections

    @property
    def over_connect(self) -> bool:
        """Its workers dial in and sync it themselves: there is no URL to ask."""
        return is_connect_url(self.app.url)


def sdk_of(payload: dict[str, Any]) -> tuple[str, str]:
    """(language, version) from a registration's ``sdk`` (``py:v0.5.19``, ``js:v3.27.0``)."""
    sdk = str(payload.get("sdk") or "")
    language, _, version = sdk.partition(":")
    language = language.removeprefix("inngest-")
    return LANGUAGES.get(language, language or "unknown"), version.removeprefix("v") or "unknown"


def checked_url(text: str) -> str:
    """An app URL worth pinging, normalised as the syncer keeps it; ``FormError`` says why not."""
    url = text.strip()
    if not url:
        raise FormError("URL: give the app's URL, e.g. http://127.0.0.1:3000/api/inngest")
    if len(url) > MAX_URL_CHARS or any(c.isspace() or ord(c) < 32 for c in url):
        raise FormError("URL: not a URL (too long, or it has spaces or control characters)")
    url = normalise_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port that is not a number
    except ValueError as exc:
        raise FormError(f"URL: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FormError(f"URL: expected http:// or https:// and a host, got {url[:200]!r}")
    return url


def _ctx(request: Request) -> DashboardContext:
    ctx = request.state.ctx
    assert isinstance(ctx, DashboardContext)
    return ctx


async def _rows(ctx: DashboardContext) -> tuple[list[AppRow], list[tuple[str, str]]]:
    """The apps, and the URLs being synced that have no app yet, with their last error."""
    errors = ctx.runtime.syncer.errors if ctx.runtime is not None else {}
    problems = ctx.runtime.catalog.load_problems if ctx.runtime is not None else {}
    workers: dict[str, list[dict[str, Any]]] = {}
    if ctx.runtime is not None:
        for node in all_nodes(ctx.runtime.connect_hub.links()):
            workers.setdefault(node["appName"] or "", []).append(node)
    rows = []
    for app in await ctx.apps():
        language, version = sdk_of(app.payload)
        functions = app.payload.get("functions")
        rows.append(
            AppRow(
                app=app,
                language=language,
                version=version,
                framework=str(app.payload.get("framework") or ""),
                functions=len(functions) if isinstance(functions, list) else 0,
                error=errors.get(app.url),
                problem=problems.get(app.name),
                workers=tuple(sorted(workers.get(app.name, []), key=lambda w: w["connectedAt"])),
            )
        )
    served = {app.url for app in await ctx.apps()}
    waiting = [] if ctx.runtime is None else ctx.runtime.syncer.urls()
    pending = [(url, errors.get(url, "not synced yet")) for url in waiting if url not in served]
    return rows, pending


def routes(ctx: DashboardContext) -> list[BaseRoute]:
    del ctx  # each request carries it (request.state.ctx)

    def refusal(ctx: DashboardContext) -> str | None:
        if not ctx.can_act or ctx.runtime is None:
            return ctx.read_only_reason or "this dashboard cannot act on the server"
        return None

    async def list_page(request: Request) -> Response:
        ctx = _ctx(request)
        rows, pending = await _rows(ctx)
        synced = request.query_params.get("synced", "")[:200]
        return render(
            request,
            "apps.html",
            rows=rows,
            pending=pending,
            refusal=refusal(ctx),
            synced=synced,
            error_swap=ERROR_SWAP,
        )

    async def url_of(request: Request) -> tuple[DashboardContext, str] | Response:
        ctx = _ctx(request)
        why = refusal(ctx)
        if why is not None:
            return notice(request, f"Apps cannot be changed from here: {why}.", 409)
        try:
            return ctx, checked_url((await form_fields(request)).get("url", ""))
        except FormError as exc:
            return notice(request, exc.message, exc.status)

    async def sync(request: Request) -> Response:
        """Sync a URL now; Add app is this with a URL not yet known (kept once it syncs)."""
        found = await url_of(request)
        if isinstance(found, Response):
            return found
        ctx, url = found
        assert ctx.runtime is not None
        syncer = ctx.runtime.syncer
        problem = await syncer.ping(url)
        if problem is not None:
            return notice(request, f"The sync of {url} failed: {problem}", 422)
        syncer.add_url(url)  # it answered as an SDK: keep it in sync from now on
        return lead_to(request, f"/apps?synced={url}")

    async def confirm_remove(request: Request) -> Response:
        ctx = _ctx(request)
        url = request.query_params.get("url", "")[:MAX_URL_CHARS]
        names = [app.name for app in await ctx.apps() if app.url == url]
        known = ctx.runtime is not None and url in ctx.runtime.syncer.urls()
        if not names and not known:
            return notice(request, f"No app is served at {url!r}.", 404)
        page = "_apps_confirm.html" if is_htmx(request) else "apps_confirm.html"
        return render(request, page, url=url, names=names, refusal=refusal(ctx))

    async def remove(request: Request) -> Response:
        ctx = _ctx(request)
        why = refusal(ctx)
        if why is not None:
            return notice(request, f"Apps cannot be changed from here: {why}.", 409)
        try:
            url = (await form_fields(request)).get("url", "")[:MAX_URL_CHARS]
        except FormError as exc:
            return notice(request, exc.message, exc.status)
        assert ctx.runtime is not None
        syncer = ctx.runtime.syncer
        if url not in syncer.urls():
            return notice(request, f"No app is served at {url!r}.", 404)
        await syncer.forget(url)
        return lead_to(request, "/apps")

    return [
        Route("/apps", list_page, methods=["GET"]),
        Route("/apps/sync", sync, methods=["POST"]),
        Route("/apps/remove", confirm_remove, methods=["GET"]),
        Route("/apps/remove", remove, methods=["POST"]),
    ]
