"""Durable endpoints over HTTP (``engine.endpoints``): the checkpoint routes the TS SDK's sync
step mode calls, and the routes a caller awaits or streams a run's answer from.

* ``POST /v1/checkpoint`` creates the run (with the steps already run) and answers
  ``{"data": {fn_id, app_id, run_id, token, realtime_token}}``;
* ``POST /v1/checkpoint/{run}/steps`` stores later steps (or ends the run, or hands it on);
* ``GET /v1/http/runs/{run}/output?token=`` waits (bounded) for the run to end and answers
  with the HTTP response the handler made (the redirect target of a run that went async);
* ``GET /v1/realtime/sse?token=`` is the same as a server-sent event stream, for a caller
  that asked for ``text/event-stream`` and was redirected here (``inngest.redirect_info``),
  with what the handler streams meanwhile (``run_streams``);
* ``POST /v1/realtime/publish/tee?channel=<run>`` is where the SDK sends that stream.

``/v1/http/runs`` is the older prefix of ``/v1/checkpoint``; both are served.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from stepwell.core.runs import RunStatus
from stepwell.engine.apps import app_uuid_for
from stepwell.engine.endpoints import EndpointRefused, EndpointRun, RunTokens
from stepwell.ports.records import RunRecord
from stepwell.protocol.ops import Op
from stepwell.server.http import MAX_REQUEST_BYTES, error, json_response, read_object
from stepwell.server.run_streams import EventTooLong, RunStreams
from stepwell.server.runtime import ServerRuntime

_ULID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$", re.IGNORECASE)
OUTPUT_WAIT_S = 300.0
POLL_S = 0.1
TEE_GRACE_S = 5.0
"""How long a caller's stream waits, once the run has ended, for a tee still open (its last
chunks and the SDK's own answer may arrive just after the run's end)."""
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding"})


def _ops(body: dict[str, Any]) -> list[Op]:
    raw = body.get("steps")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(op, dict) for op in raw):
        raise EndpointRefused(400, "steps: expected an array of op objects")
    try:
        return [Op.from_wire(op) for op in raw]
    except ValueError as exc:
        raise EndpointRefused(400, f"steps: {exc}") from exc


def _answer(run: RunRecord) -> tuple[int, dict[str, str], str]:
    """The HTTP response a run's end stands for: the handler's own when it made one."""
    output = run.output
    if run.status is RunStatus.COMPLETED:
        if (
            isinstance(output, dict)
            and isinstance(output.get("status"), int)
            and isinstance(output.get("body"), str)
        ):
            raw_headers = output.get("headers")
            headers = {
                str(k): str(v)
                for k, v in (raw_headers.items() if isinstance(raw_headers, dict) else ())
                if str(k).lower() not in _HOP_BY_HOP
            }
            return int(output["status"]), headers, output["body"]
        return 200, {"content-type": "application/json"}, json.dumps(output)
    if run.status is RunStatus.FAILED:
        body = json.dumps({"error": run.error or {}, "status": 500})
        return 500, {"content-type": "application/json"}, body
    body = json.dumps({"error": f"the run was {run.status.value.lower()}", "status": 409})
    return 409, {"content-type": "application/json"}, body


def routes(runtime: ServerRuntime) -> list[Route]:
    engine = runtime.engine
    endpoints = engine.lifecycle.endpoints
    tokens = RunTokens(runtime.config.signing_key or "stepwell-dev")
    streams = RunStreams()

    def created(run: EndpointRun) -> Response:
        return json_response(
            {
                "data": {
                    "fn_id": run.spec.uuid,
                    "app_id": app_uuid_for(run.spec.app_id),
                    "run_id": run.run_id,
                    "token": tokens.issue(run.run_id),
                    "realtime_token": tokens.issue(run.run_id, "realtime"),
                }
            }
        )

    async def new_run(request: Request) -> Response:
        body = await read_object(request, MAX_REQUEST_BYTES)
        run_id = body.get("run_id")
        if not isinstance(run_id, str) or not _ULID.match(run_id):
            return error(400, "run_id: expected the ULID the SDK made for the run")
        event = body.get("event")
        if not isinstance(event, dict):
            return error(400, "event: expected the request's event object")
        retries = body.get("retries")
        if retries is None:
            retries = 3
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            return error(400, "retries: expected a whole number of at least 0")
        try:
            run = await endpoints.start(run_id, event, _ops(body), retries)
        except EndpointRefused as exc:
            return error(exc.status, str(exc))
        return created(run)

    async def steps(request: Request) -> Response:
        body = await read_object(request, MAX_REQUEST_BYTES)
        try:
            run = await endpoints.record(request.path_params["run_id"], _ops(body))
        except EndpointRefused as exc:
            return error(exc.status, str(exc))
        return json_response({"data": {"run_id": run.run_id, "async": run.asynchronous}})

    def token_run(request: Request, purpose: str) -> str | Response:
        token = request.query_params.get("token") or ""
        run_id = tokens.verify(token, purpose)
        if run_id is None:
            return error(401, "token: not a token for this run's output")
        wanted = request.path_params.get("run_id")
        if wanted is not None and wanted != run_id:
            return error(401, f"token: the token is for another run, not {wanted}")
        return run_id

    async def ended(run_id: str, request: Request) -> RunRecord | None:
        deadline = time.monotonic() + OUTPUT_WAIT_S
        while True:
            run = await engine.get_run(run_id)
            if run is None or run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
                return run
            if time.monotonic() >= deadline or await request.is_disconnected():
                return run
            await asyncio.sleep(POLL_S)

    async def output(request: Request) -> Response:
        found = token_run(request, "output")
        if isinstance(found, Response):
            return found
        run = await ended(found, request)
        if run is None:
            return error(404, f"run {found} not found")
        if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            return json_response(
                {"status": "running", "message": f"run did not end within {OUTPUT_WAIT_S:.0f} s"},
                status=202,
            )
        status, headers, text = _answer(run)
        return Response(text, status_code=status, headers=headers)

    async def stream(request: Request) -> Response:
        found = token_run(request, "realtime")
        if isinstance(found, Response):
            return found
        if await engine.get_run(found) is None:
            return error(404, f"run {found} not found")
        return StreamingResponse(
            relayed(found, request),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    async def relayed(run_id: str, request: Request) -> AsyncIterator[bytes]:
        """The run's metadata, what the handler streams, then its answer: the SDK's own (in
        the tee) or, without one, the one the run's end stands for."""
        yield _sse("inngest.metadata", {"runId": run_id})
        seen = 0
        deadline = time.monotonic() + OUTPUT_WAIT_S
        ended_at: float | None = None
        while True:
            events, seen = streams.read(run_id, seen)
            for event in events:
                if event.name != "inngest.metadata":  # ours went first
                    yield event.encode()
                if event.name == "inngest.response":
                    return
            if ended_at is not None and (
                not streams.publishers(run_id) or time.monotonic() - ended_at > TEE_GRACE_S
            ):
                run = await engine.get_run(run_id)
                if run is None:
                    return
                status, headers, text = _answer(run)
                outcome = "succeeded" if run.status is RunStatus.COMPLETED else "failed"
                response = {"body": text, "headers": headers, "statusCode": status}
                yield _sse("inngest.response", {"status": outcome, "response": response})
                return
            run = await engine.get_run(run_id)
            if run is None:
                return
            if ended_at is None and run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
                ended_at = time.monotonic()
                continue  # read what was published meanwhile before answering
            if time.monotonic() >= deadline or await request.is_disconnected():
                return
            await streams.wait(run_id, POLL_S)

    async def tee(request: Request) -> Response:
        run_id = request.query_params.get("channel") or ""
        if not _ULID.match(run_id):
            return error(400, "channel: expected the run id")
        if await engine.get_run(run_id) is None:
            return error(404, f"run {run_id} not found")

        async def run_ended() -> bool:
            run = await engine.get_run(run_id)
            return run is None or run.status not in (RunStatus.QUEUED, RunStatus.RUNNING)

        try:
            await streams.take_tee(run_id, request.stream(), run_ended)
        except EventTooLong as exc:
            return error(413, f"body: {exc}")
        return json_response({"data": {"run_id": run_id}})

    found: list[Route] = []
    for prefix in ("/v1/checkpoint", "/v1/http/runs"):
        found += [
            Route(prefix, new_run, methods=["POST"]),
            Route(prefix + "/{run_id}/steps", steps, methods=["POST"]),
            Route(prefix + "/{run_id}/output", output, methods=["GET"]),
        ]
    return [
        *found,
        Route("/v1/realtime/sse", stream, methods=["GET"]),
        Route("/v1/realtime/publish/tee", tee, methods=["POST"]),
    ]


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()
