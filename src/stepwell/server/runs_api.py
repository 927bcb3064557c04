"""REST APIs (protocol.md §5.9, §5.11, §8): events, runs, cancel, signals, checkpoints."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from stepwell.ports.history import UnknownCursor
from stepwell.ports.records import RunRecord, StoredEvent
from stepwell.protocol.ops import Op
from stepwell.server.http import (
    MAX_REQUEST_BYTES,
    error,
    json_response,
    optional_string,
    query_limit,
    query_time_ms,
    read_object,
)
from stepwell.server.rest_shapes import iso, job_json
from stepwell.server.run_filters import run_query
from stepwell.server.runtime import ServerRuntime

ENVIRONMENT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "stepwell:env:local"))
ACCOUNT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "stepwell:account:local"))


def event_json(stored: StoredEvent) -> dict[str, Any]:
    event = stored.event
    return {
        "internal_id": stored.internal_id,
        "account_id": ACCOUNT_ID,
        "environment_id": ENVIRONMENT_ID,
        "source": "",
        "source_id": None,
        "received_at": iso(stored.received_at),
        "id": event.id or stored.internal_id,
        "name": event.name,
        "data": event.data,
        "user": event.user,
        "ts": event.ts,
        "v": event.v,
    }


def run_json(run: RunRecord, function_uuid: str | None) -> dict[str, Any]:
    """A run as ``GET /v1/runs/{id}`` answers it (``function_uuid``: None if unknown here)."""
    return {
        "run_id": run.run_id,
        "run_started_at": iso(run.started_at or run.created_at),
        "function_id": function_uuid,
        "function_slug": run.function_id,
        "function_version": 1,
        "environment_id": ENVIRONMENT_ID,
        "event_id": run.event_ids[0] if run.event_ids else None,
        "batch_id": None,
        "status": run.status.value,
        "ended_at": iso(run.ended_at),
        "output": run.error if run.error is not None else run.output,
    }


def _envelope(data: Any) -> Response:
    return json_response({"data": data, "metadata": {"fetched_at": iso(_now_ms())}})


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def routes(runtime: ServerRuntime) -> list[Route]:
    engine = runtime.engine

    def _run_json(run: RunRecord) -> dict[str, Any]:
        spec = engine.registry.get(run.function_id)
        return run_json(run, spec.uuid if spec else None)

    history = engine.history

    async def list_events(request: Request) -> Response:
        query = request.query_params
        events = await history.list_events(
            name=query.get("name") or None,
            limit=query_limit(request),
            before_id=query.get("cursor") or None,
            received_after=query_time_ms(request, "received_after"),
            received_before=query_time_ms(request, "received_before"),
        )
        return _envelope([event_json(e) for e in events])

    async def get_event(request: Request) -> Response:
        found = await history.get_events([request.path_params["event_id"]])
        if not found:
            return error(404, "event not found")
        return _envelope(event_json(found[0]))

    async def event_runs(request: Request) -> Response:
        runs = await engine.list_runs(event_id=request.path_params["event_id"])
        return _envelope([_run_json(r) for r in sorted(runs, key=lambda r: r.run_id)])

    async def list_runs(request: Request) -> Response:
        """``GET /v1/runs``: newest first, filtered (``run_filters``), paged by cursor."""
        query = run_query(request)
        try:
            page = await history.query_runs(query)
        except UnknownCursor:
            return error(400, "cursor: not a cursor of this list (it names no listed run)")
        return json_response(
            {
                "data": [_run_json(r) for r in page.runs],
                "metadata": {"fetched_at": iso(_now_ms())},
                "cursor": page.end_cursor if page.has_more else None,
                "has_more": page.has_more,
            }
        )

    async def run_jobs(request: Request) -> Response:
        """``GET /v1/runs/{id}/jobs``: the run's queued work, soonest due first."""
        run = await history.get_run(request.path_params["run_id"])
        if run is None:
            return error(404, "run not found")
        now = _now_ms()
        return _envelope([job_json(item, now) for item in await history.run_jobs(run.run_id)])

    async def get_run(request: Request) -> Response:
        run = await engine.get_run(request.path_params["run_id"])
        if run is None:
            return error(404, "run not found")
        return _envelope(_run_json(run))

    async def cancel_run(request: Request) -> Response:
        try:
            await engine.cancel(request.path_params["run_id"])
        except LookupError:
            return error(404, "run not found")
        run = await engine.get_run(request.path_params["run_id"])
        assert run is not None
        return _envelope(_run_json(run))

    async def run_batch(request: Request) -> Response:
        """The run's events, for an SDK told ``use_api`` (§5.9)."""
        run = await engine.get_run(request.path_params["run_id"])
        if run is None:
            return error(410, "run state is gone")
        return json_response([e.to_wire() for e in await history.get_events(run.event_ids)])

    async def run_actions(request: Request) -> Response:
        """The run's memo, for an SDK told ``use_api`` (§5.9)."""
        run = await engine.get_run(request.path_params["run_id"])
        if run is None:
            return error(410, "run state is gone")
        return json_response(await history.load_memo(run.run_id))

    async def signal(request: Request) -> Response:
        body = await read_object(request)
        name = optional_string(body, "signal")
        if not name:
            return error(400, "signal: a signal name is required")
        run_id = await engine.signal(name, body.get("data"))
        if run_id is None:
            return error(404, f"no run is waiting for signal {name!r}")
        return json_response({"data": {"run_id": run_id}})

    async def checkpoint_async(request: Request) -> Response:
        """TS async checkpointing (§5.11): steps stored while the SDK's request runs on."""
        body = await read_object(request, MAX_REQUEST_BYTES)
        raw_ops = body.get("steps")
        if not isinstance(raw_ops, list):
            return error(400, "steps: expected an array of ops")
        try:
            ops = [Op.from_wire(raw) for raw in raw_ops]
        except ValueError as exc:
            return error(400, f"steps: {exc}")
        run_id = request.path_params["run_id"]
        call = body.get("request_id")  # the call the steps come from (TS and our SDK say)
        call = call if isinstance(call, str) and call else None
        item = body.get("qi_id")  # its queue item: whose lease says which process holds it
        item = item if isinstance(item, str) and item else None
        if not await runtime.checkpoints.take(run_id, ops, call, item):
            return error(409, "no call of this run is in progress")
        return json_response({"status": 200})

    return [
        Route("/v1/events", list_events, methods=["GET"]),
        Route("/v1/events/{event_id}", get_event, methods=["GET"]),
        Route("/v1/events/{event_id}/runs", event_runs, methods=["GET"]),
        Route("/v1/runs", list_runs, methods=["GET"]),
        Route("/v1/runs/{run_id}", get_run, methods=["GET"]),
        Route("/v1/runs/{run_id}/jobs", run_jobs, methods=["GET"]),
        Route("/v1/runs/{run_id}", cancel_run, methods=["DELETE"]),
        Route("/v0/runs/{run_id}", cancel_run, methods=["DELETE"]),
        Route("/v0/runs/{run_id}/batch", run_batch, methods=["GET"]),
        Route("/v0/runs/{run_id}/actions", run_actions, methods=["GET"]),
        Route("/v1/signals", signal, methods=["POST"]),
        Route("/v1/checkpoint/{run_id}/async", checkpoint_async, methods=["POST"]),
    ]
