"""GraphQL's ``runs`` query: its arguments as a ``RunQuery``, paged and counted in the store."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from stepwell.core.runs import RunStatus
from stepwell.ports.history import RunQuery, RunTime, UnknownCursor
from stepwell.server.gql_nodes import (
    GqlContext,
    GqlError,
    RunV2Node,
    context,
    function_uuid,
    run_status,
    time_in,
)
from stepwell.server.runtime import ServerRuntime

RUNS_MAX_FIRST = 1000

_TIME_FIELDS = {
    "QUEUED_AT": RunTime.QUEUED,
    "STARTED_AT": RunTime.STARTED,
    "ENDED_AT": RunTime.ENDED,
}
_STATUSES = {run_status(status): status for status in RunStatus}


async def _function_slugs(runtime: ServerRuntime, uuids: set[str]) -> tuple[str, ...]:
    """The slugs of the functions named by UUID: registered ones, then any other function
    that has runs (a UUID is derived from its slug, so it is found by deriving)."""
    slugs = {spec.slug for spec in runtime.engine.registry if spec.uuid in uuids}
    if len(slugs) < len(uuids):
        for slug in await runtime.engine.history.run_function_ids():
            if function_uuid(slug) in uuids:
                slugs.add(slug)
    return tuple(sorted(slugs))


def _storable(text: str) -> bool:
    """Whether a database can be asked about ``text``: UTF-8 without NUL (PostgreSQL refuses
    NUL in text), so a junk cursor is refused by name rather than by the driver."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


async def _run_query(
    runtime: ServerRuntime,
    first: int,
    order_by: list[dict[str, str]],
    filter: dict[str, Any],
    after: str | None,
) -> RunQuery:
    if filter.get("query"):
        raise GqlError("filter.query: CEL queries over runs are not supported")
    if not 0 <= first <= RUNS_MAX_FIRST:
        raise GqlError(f"first: expected 0 to {RUNS_MAX_FIRST}, got {first}")
    if after is not None and not _storable(after):
        raise GqlError(f"after: {after!r} is not a cursor of these runs")
    since = time_in(filter["from"], "filter.from")
    until = time_in(filter["until"], "filter.until") if filter.get("until") else None
    statuses = filter.get("status")
    function_ids = filter.get("functionIDs")
    app_ids = filter.get("appIDs")
    apps = runtime.catalog.apps()
    order = order_by[0] if order_by else {"field": "QUEUED_AT", "direction": "DESC"}
    return RunQuery(
        since=since,
        until=until,
        time_field=_TIME_FIELDS[filter.get("timeField") or "QUEUED_AT"],
        # An empty list filters nothing, as before; unknown ids match nothing.
        statuses=tuple(_STATUSES[s] for s in statuses if s in _STATUSES) if statuses else None,
        function_ids=await _function_slugs(runtime, set(function_ids)) if function_ids else None,
        app_ids=tuple(app.name for app in apps if app.app_uuid in app_ids) if app_ids else None,
        order_by=_TIME_FIELDS[order["field"]],
        descending=order["direction"] == "DESC",
        first=first,
        after=after,
    )


async def q_runs(
    _: None,
    info: GraphQLResolveInfo[GqlContext],
    first: int,
    orderBy: list[dict[str, str]],
    filter: dict[str, Any],
    after: str | None = None,
) -> dict[str, Any]:
    """One page of the runs the filter matches, in order; paged and counted in the store."""
    runtime = context(info).runtime
    query = await _run_query(runtime, first, orderBy, filter, after)
    history = runtime.engine.history
    try:
        page = await history.query_runs(query)
    except UnknownCursor:
        raise GqlError(f"after: {after!r} is not a cursor of these runs") from None
    nodes = [RunV2Node(runtime, run) for run in page.runs]

    async def total_count(_: GraphQLResolveInfo[GqlContext]) -> int:
        # Only counted when the query asks for it.
        return await history.count_runs(query)

    return {
        "edges": [{"node": node, "cursor": node.id} for node in nodes],
        "pageInfo": {
            "hasNextPage": page.has_more,
            "hasPreviousPage": after is not None,
            "startCursor": nodes[0].id if nodes else None,
            "endCursor": page.end_cursor,
        },
        "totalCount": total_count,
    }
