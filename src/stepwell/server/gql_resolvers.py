"""The root fields of the GraphQL API (``schema.graphql``): queries and mutations.

Each resolver takes the parent value (None at the root), the resolve info and the field's
arguments by their GraphQL names. ``RESOLVERS`` binds them to the schema (``gql.load_schema``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfo

from stepwell.protocol.events import SCHEDULED_TIMER, is_internal_name
from stepwell.server.events_api import invoke_function
from stepwell.server.gql_connect import q_worker_connection, q_worker_connections
from stepwell.server.gql_nodes import (
    AppNode,
    EventNode,
    EventV2Node,
    FunctionNode,
    GqlContext,
    GqlError,
    RunNode,
    RunV2Node,
    StreamItemNode,
    context,
    time_out,
    to_json,
)
from stepwell.server.gql_runs import q_runs
from stepwell.server.gql_trace import SpanNode, build_trace, span_output
from stepwell.server.runtime import ServerRuntime
from stepwell.server.syncer import normalise_url

EVENTS_LIMIT = 1000
STREAM_MAX_LIMIT = 500
STREAM_SCAN_EVENTS = 20_000

Resolver = Callable[..., Any]


# -- queries ----------------------------------------------------------------------------------


def _runtime(info: GraphQLResolveInfo[GqlContext]) -> ServerRuntime:
    return context(info).runtime


async def q_apps(_: None, info: GraphQLResolveInfo[GqlContext]) -> list[AppNode]:
    runtime = _runtime(info)
    return [
        AppNode.of(runtime, app) for app in sorted(runtime.catalog.apps(), key=lambda a: a.name)
    ]


async def q_app(_: None, info: GraphQLResolveInfo[GqlContext], id: str) -> AppNode | None:
    runtime = _runtime(info)
    found = [app for app in runtime.catalog.apps() if app.app_uuid == id]
    return AppNode.of(runtime, found[0]) if found else None


async def q_functions(_: None, info: GraphQLResolveInfo[GqlContext]) -> list[FunctionNode]:
    runtime = _runtime(info)
    specs = sorted(runtime.engine.registry, key=lambda spec: spec.slug)
    return [FunctionNode(runtime, spec) for spec in specs]


async def q_function_by_slug(
    _: None, info: GraphQLResolveInfo[GqlContext], query: dict[str, Any]
) -> FunctionNode | None:
    runtime = _runtime(info)
    spec = runtime.engine.registry.get(query["functionSlug"])
    return FunctionNode(runtime, spec) if spec is not None else None


async def q_event(
    _: None, info: GraphQLResolveInfo[GqlContext], query: dict[str, Any]
) -> EventNode | None:
    runtime = _runtime(info)
    found = await runtime.engine.history.get_events([str(query["eventId"])])
    return EventNode(runtime, found[0]) if found else None


async def q_events(
    _: None, info: GraphQLResolveInfo[GqlContext], query: dict[str, Any]
) -> list[EventNode]:
    runtime = _runtime(info)
    found = await runtime.engine.history.list_events(
        limit=EVENTS_LIMIT, before_id=query.get("lastEventId")
    )
    return [EventNode(runtime, stored) for stored in found]


async def q_event_v2(_: None, info: GraphQLResolveInfo[GqlContext], id: str) -> EventV2Node:
    runtime = _runtime(info)
    found = await runtime.engine.history.get_events([id])
    if not found:
        raise GqlError(f"no event with id {id!r}")
    return EventV2Node(runtime, found[0])


async def q_stream(
    _: None, info: GraphQLResolveInfo[GqlContext], query: dict[str, Any]
) -> list[StreamItemNode]:
    """Events newest first (cron ticks as CRON items), with the runs each one started."""
    runtime = _runtime(info)
    limit = max(0, min(int(query["limit"]), STREAM_MAX_LIMIT))
    after = query.get("after")
    internal = bool(query.get("includeInternalEvents"))
    items: list[StreamItemNode] = []
    cursor = query.get("before")
    scanned = 0
    while len(items) < limit and scanned < STREAM_SCAN_EVENTS:
        page = await runtime.engine.history.list_events(limit=200, before_id=cursor)
        if not page:
            break
        scanned += len(page)
        for stored in page:
            if after is not None and stored.internal_id <= after:
                return items
            name = stored.event.name
            if is_internal_name(name) and name != SCHEDULED_TIMER and not internal:
                continue
            runs = await runtime.engine.list_runs(event_id=stored.internal_id, limit=1000)
            items.append(StreamItemNode(runtime, stored, sorted(runs, key=lambda r: r.run_id)))
            if len(items) == limit:
                break
        cursor = page[-1].internal_id
    return items


async def q_function_run(
    _: None, info: GraphQLResolveInfo[GqlContext], query: dict[str, Any]
) -> RunNode | None:
    runtime = _runtime(info)
    run = await runtime.engine.get_run(str(query["functionRunId"]))
    return RunNode(runtime, run) if run is not None else None


async def q_run(_: None, info: GraphQLResolveInfo[GqlContext], runID: str) -> RunV2Node | None:
    runtime = _runtime(info)
    run = await runtime.engine.get_run(runID)
    return RunV2Node(runtime, run) if run is not None else None


async def q_run_trigger(
    _: None, info: GraphQLResolveInfo[GqlContext], runID: str
) -> dict[str, Any]:
    runtime = _runtime(info)
    run = await runtime.engine.get_run(runID)
    if run is None:
        raise GqlError(f"no run with id {runID!r}")
    events = await runtime.engine.history.get_events(run.event_ids)
    first = events[0].event if events else None
    cron = first.data.get("cron") if first is not None and first.name == SCHEDULED_TIMER else None
    return {
        "eventName": first.name if first is not None else None,
        "IDs": [stored.internal_id for stored in events],
        "payloads": [to_json(stored.to_wire()) for stored in events],
        "timestamp": time_out(first.ts if first is not None else run.created_at),
        "isBatch": len(events) > 1,
        "batchID": None,
        "cron": str(cron) if cron else None,
    }


async def q_run_trace(_: None, info: GraphQLResolveInfo[GqlContext], runID: str) -> SpanNode:
    runtime = _runtime(info)
    run = await runtime.engine.get_run(runID)
    if run is None:
        raise GqlError(f"no run with id {runID!r}")
    return await build_trace(runtime, run)


async def q_span_output(
    _: None, info: GraphQLResolveInfo[GqlContext], outputID: str
) -> dict[str, Any]:
    return await span_output(_runtime(info), outputID)


async def run_v2_trace(
    node: RunV2Node, info: GraphQLResolveInfo[GqlContext], preview: bool | None = None
) -> SpanNode:
    return await build_trace(_runtime(info), node.record)


# -- mutations --------------------------------------------------------------------------------


async def m_create_app(
    _: None, info: GraphQLResolveInfo[GqlContext], input: dict[str, Any]
) -> AppNode:
    """Add the URL to the apps kept in sync and sync it now; the app says how that went."""
    runtime = _runtime(info)
    url = normalise_url(str(input["url"]).strip())
    if url == "http://":
        raise GqlError("input.url: a URL is required")
    runtime.syncer.add_url(url)
    error = await runtime.syncer.ping(url)
    synced = [app for app in runtime.catalog.apps() if app.url == url]
    if synced:
        return AppNode(runtime, synced[0], url=url, error=error)
    return AppNode(runtime, None, url=url, error=error or "the app synced under another URL")


async def _delete(runtime: ServerRuntime, name: str) -> None:
    app = runtime.catalog.get(name)
    assert app is not None
    await runtime.syncer.forget(app.url)


async def m_delete_app(_: None, info: GraphQLResolveInfo[GqlContext], id: str) -> str:
    runtime = _runtime(info)
    found = [app for app in runtime.catalog.apps() if app.app_uuid == id]
    if not found:
        raise GqlError(f"no app with id {id!r}")
    await _delete(runtime, found[0].name)
    return id


async def m_delete_app_by_name(_: None, info: GraphQLResolveInfo[GqlContext], name: str) -> bool:
    runtime = _runtime(info)
    if runtime.catalog.get(name) is None:
        raise GqlError(f"no app named {name!r}")
    await _delete(runtime, name)
    return True


async def m_invoke_function(
    _: None,
    info: GraphQLResolveInfo[GqlContext],
    functionSlug: str,
    data: Any = None,
    user: Any = None,
    meta: Any = None,
) -> bool:
    if data is not None and not isinstance(data, dict):
        raise GqlError("data: expected a JSON object")
    if user is not None and not isinstance(user, dict):
        raise GqlError("user: expected a JSON object")
    try:
        await invoke_function(_runtime(info), functionSlug, data, user)
    except LookupError as exc:
        raise GqlError(f"functionSlug: {exc.args[0]}") from None
    return True


async def m_cancel_run(_: None, info: GraphQLResolveInfo[GqlContext], runID: str) -> RunNode:
    runtime = _runtime(info)
    try:
        await runtime.engine.cancel(runID)
    except LookupError:
        raise GqlError(f"no run with id {runID!r}") from None
    run = await runtime.engine.get_run(runID)
    assert run is not None
    return RunNode(runtime, run)


async def m_rerun(
    _: None,
    info: GraphQLResolveInfo[GqlContext],
    runID: str,
    fromStep: dict[str, Any] | None = None,
) -> str:
    if fromStep is not None and fromStep.get("input") is not None:
        raise GqlError("fromStep.input: replacing a step's input is not supported")
    step = fromStep["stepID"] if fromStep is not None else None
    try:
        return await _runtime(info).engine.rerun(runID, from_step=step)
    except (LookupError, RuntimeError) as exc:
        raise GqlError(f"cannot rerun {runID!r}: {exc.args[0]}") from None


RESOLVERS: dict[str, dict[str, Resolver]] = {
    "Query": {
        "apps": q_apps,
        "app": q_app,
        "functions": q_functions,
        "functionBySlug": q_function_by_slug,
        "event": q_event,
        "events": q_events,
        "eventV2": q_event_v2,
        "stream": q_stream,
        "functionRun": q_function_run,
        "run": q_run,
        "runs": q_runs,
        "runTrigger": q_run_trigger,
        "runTrace": q_run_trace,
        "runTraceSpanOutputByID": q_span_output,
        "workerConnections": q_worker_connections,
        "workerConnection": q_worker_connection,
    },
    "Mutation": {
        "createApp": m_create_app,
        "deleteApp": m_delete_app,
        "deleteAppByName": m_delete_app_by_name,
        "invokeFunction": m_invoke_function,
        "cancelRun": m_cancel_run,
        "rerun": m_rerun,
    },
    "FunctionRunV2": {"trace": run_v2_trace},
}
