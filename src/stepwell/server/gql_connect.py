"""Connect workers in GraphQL, as Inngest's dev server answers them: ``workerConnections`` (a
page of ``ConnectV1WorkerConnection``, one per app a connection serves) and
``workerConnection(connectionId)``.

Only open connections are known here (the hub forgets a worker once it is gone), so a
``DISCONNECTED`` filter finds nothing, and ``disconnectedAt`` is always null.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from graphql import GraphQLResolveInfo

from stepwell.core.ids import new_ulid
from stepwell.drivers.connect.hub import Link
from stepwell.server.gql_nodes import GqlContext, GqlError, context, time_in, time_out

GATEWAY_ID = new_ulid()
"""This process's gateway, as the ``gatewayId`` of its connections."""
MAX_FIRST = 400
ORDER_FIELDS = {
    "CONNECTED_AT": "connectedAt",
    "LAST_HEARTBEAT_AT": "lastHeartbeatAt",
    "DISCONNECTED_AT": "disconnectedAt",
}


def _sdk(link: Link) -> tuple[str, str]:
    """(language, version) from the worker's hello: ``typescript:v4.24.0`` → ``typescript``."""
    language, _, version = link.sdk.partition(":")
    return language, version.removeprefix("v")


def nodes_of(link: Link, now_wall_ms: int) -> list[dict[str, Any]]:
    """A connection as Inngest shows it: one node per app the worker serves over it."""
    language, version = _sdk(link)
    quiet_ms = int((time.monotonic() - link.last_seen) * 1000)
    nodes = []
    for app_name in sorted(link.apps) or [""]:
        functions = [slug for slug, app in link.slugs.items() if app == app_name]
        nodes.append(
            {
                "id": link.conn_id,
                "gatewayId": GATEWAY_ID,
                "instanceId": link.instance_id,
                "status": link.status,
                "appName": app_name or None,
                "appID": link.apps.get(app_name) or None,
                "appVersion": None,
                "buildId": None,
                "connectedAt": time_out(link.connected_at_ms),
                "lastHeartbeatAt": time_out(max(link.connected_at_ms, now_wall_ms - quiet_ms)),
                "disconnectedAt": None,
                "disconnectReason": None,
                "functionCount": len(functions),
                "sdkLang": language,
                "sdkVersion": version,
                "sdkPlatform": "",
                "maxWorkerConcurrency": link.capacity,
                "cpuCores": 0,
                "memBytes": 0,
                "os": "",
                "workerIp": "",
                "groupHash": "",
                "inFlight": len(link.in_flight),
            }
        )
    return nodes


def all_nodes(links: Sequence[Link]) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    return [node for link in links if not link.closed for node in nodes_of(link, now)]


def _filtered(nodes: list[dict[str, Any]], filter: dict[str, Any]) -> list[dict[str, Any]]:
    statuses = filter.get("status")
    app_ids = filter.get("appIDs")
    field = ORDER_FIELDS[filter.get("timeField") or "CONNECTED_AT"]
    since = None if filter.get("from") is None else time_in(filter["from"], "filter.from")
    until = None if filter.get("until") is None else time_in(filter["until"], "filter.until")
    kept = []
    for node in nodes:
        if statuses and node["status"] not in statuses:
            continue
        if app_ids and node["appID"] not in app_ids:
            continue
        stamp = node[field]
        at = None if stamp is None else time_in(stamp, field)
        if since is not None and (at is None or at < since):
            continue
        if until is not None and (at is None or at >= until):
            continue
        kept.append(node)
    return kept


def _cursor(node: dict[str, Any]) -> str:
    return f"{node['id']}:{node['appName'] or ''}"


async def q_worker_connections(
    _: None,
    info: GraphQLResolveInfo[GqlContext],
    first: int,
    orderBy: list[dict[str, Any]],
    filter: dict[str, Any],
    after: str | None = None,
) -> dict[str, Any]:
    if not 0 < first <= MAX_FIRST:
        raise GqlError(f"first: expected 1 to {MAX_FIRST}, got {first}")
    nodes = _filtered(all_nodes(context(info).runtime.connect_hub.links()), filter)
    nodes.sort(key=_cursor)
    for order in reversed(orderBy):
        field = ORDER_FIELDS[order["field"]]
        nodes.sort(key=lambda node: node[field] or "", reverse=order["direction"] == "DESC")
    total = len(nodes)
    if after:
        cursors = [_cursor(node) for node in nodes]
        if after not in cursors:
            raise GqlError(f"after: no connection has the cursor {after[:200]!r}")
        nodes = nodes[cursors.index(after) + 1 :]
    page = nodes[:first]
    edges = [{"node": node, "cursor": _cursor(node)} for node in page]
    return {
        "edges": edges,
        "totalCount": total,
        "pageInfo": {
            "hasNextPage": len(nodes) > first,
            "hasPreviousPage": bool(after),
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


async def q_worker_connection(
    _: None, info: GraphQLResolveInfo[GqlContext], connectionId: str
) -> dict[str, Any] | None:
    for node in all_nodes(context(info).runtime.connect_hub.links()):
        if node["id"] == connectionId:
            return node
    return None
