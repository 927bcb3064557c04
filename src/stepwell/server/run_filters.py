"""The query string of a run list (``GET /v1/runs``, ``GET /v2/runs``) as a ``RunQuery``.

``function_id`` (a slug, repeatable or comma-separated), ``app_id``, ``status`` (Queued,
Running, Completed, Failed, Cancelled; any case), ``from``/``until`` (RFC 3339 or ms, on the
queued time, half-open), ``limit`` and ``cursor`` (the ``cursor`` of the previous page).
Everything is checked before the database is asked.
"""

from __future__ import annotations

from starlette.requests import Request

from stepwell.core.runs import RunStatus
from stepwell.ports.history import RunQuery
from stepwell.server.http import RequestRefused, query_limit, time_ms

STATUSES = {status.value.lower(): status for status in RunStatus}
MAX_CURSOR = 200


def _many(request: Request, name: str) -> tuple[str, ...] | None:
    values = [
        part.strip()
        for raw in request.query_params.getlist(name)
        for part in raw.split(",")
        if part.strip()
    ]
    return tuple(values) or None


def run_query(request: Request, *, default_limit: int = 100) -> RunQuery:
    statuses: tuple[RunStatus, ...] | None = None
    names = _many(request, "status")
    if names is not None:
        unknown = [name for name in names if name.lower() not in STATUSES]
        if unknown:
            allowed = ", ".join(s.value for s in RunStatus)
            raise RequestRefused(f"status: unknown {unknown[0]!r}; expected one of {allowed}")
        statuses = tuple(STATUSES[name.lower()] for name in names)
    since = time_ms("from", request.query_params.get("from"))
    until = time_ms("until", request.query_params.get("until"))
    if since is not None and until is not None and until <= since:
        raise RequestRefused("until: must be after from")
    cursor = request.query_params.get("cursor") or None
    if cursor is not None and len(cursor) > MAX_CURSOR:
        raise RequestRefused(f"cursor: longer than {MAX_CURSOR} characters; not a cursor")
    return RunQuery(
        since=since,
        until=until,
        function_ids=_many(request, "function_id"),
        app_ids=_many(request, "app_id"),
        statuses=statuses,
        first=query_limit(request, default_limit),
        after=cursor,
    )
