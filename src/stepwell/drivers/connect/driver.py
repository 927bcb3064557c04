"""The Connect driver: calls functions of workers that dialled in over a WebSocket.

An execution runs exactly as over HTTP (the same loop: checkpointed steps, planned parallel
steps, ``step.fetch`` performed here); only the transport of each call differs. A call is an
executor request sent to a connected worker serving the function, and its answer is the
worker's reply. A request lost on the way (its lease ran out: the worker died or vanished) is
sent again, to any worker that can take it, without costing the run an attempt: the step never
reported anything.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from stepwell.core.errors import error_payload
from stepwell.drivers.connect.hub import Hub
from stepwell.drivers.connect.urls import function_slug
from stepwell.drivers.http import HttpDriver
from stepwell.drivers.http_response import SdkResponse, classify_response
from stepwell.ports.driver import Errored, ExecutionRequest, Released
from stepwell.protocol.connect_wire import Kind, Reply, ReplyStatus, encode, frame

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("stepwell.driver.connect")

MAX_SENDS_PER_CALL = 10
"""How many times one call is sent before the execution fails (retriably) instead."""
_STATUS = {ReplyStatus.DONE: 200, ReplyStatus.NOT_COMPLETED: 206, ReplyStatus.ERROR: 500}


def reply_response(reply: Reply) -> SdkResponse:
    """A worker's reply read as the HTTP answer it stands for."""
    status = _STATUS.get(ReplyStatus(reply.status), 500) if reply.status in (0, 1, 2) else 500
    headers = {
        "x-inngest-sdk": reply.sdk_version or "connect",
        "x-inngest-no-retry": "true" if reply.no_retry else "false",
    }
    if reply.request_version > 0:
        headers["x-inngest-req-version"] = str(reply.request_version)
    if reply.retry_after:
        headers["retry-after"] = reply.retry_after
    return classify_response(status, headers, reply.body)


class ConnectDriver(HttpDriver):
    def __init__(
        self, hub: Hub, *, worker_wait_s: float = 30.0, client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(client=client)
        self.hub = hub
        self._worker_wait_s = worker_wait_s

    async def deliver(
        self, request: ExecutionRequest, body: dict[str, Any], *, step_id: str, version: int
    ) -> SdkResponse:
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        slug = function_slug(str(request.url))
        for _ in range(MAX_SENDS_PER_CALL):
            if self._draining:
                return SdkResponse(outcome=Released())
            link = await self.hub.pick(slug, self._worker_wait_s)
            if link is None:
                return SdkResponse(
                    outcome=Errored(
                        error_payload(
                            "NoWorkerError",
                            f"no connected worker serves function {slug!r} (waited "
                            f"{self._worker_wait_s:g}s)",
                        ),
                        retriable=True,
                    )
                )
            pending = self.hub.open(link, slug)
            app_name = link.slugs[slug]
            message = encode(
                "GatewayExecutorRequestData",
                request_id=pending.request_id,
                app_id=link.apps.get(app_name, ""),
                app_name=app_name,
                function_id=request.function_uuid,
                function_slug=slug,
                step_id=step_id,
                request_payload=payload,
                run_id=request.run_id,
                lease_id=pending.lease_id,
                job_id=request.item_id,
            )
            try:
                await link.deliver(frame(Kind.GATEWAY_EXECUTOR_REQUEST, message))
            except Exception as exc:  # the socket went away under us: try another worker
                log.info("sending to worker %s failed: %s", link.conn_id, exc)
                self.hub.forget(pending)
                self.hub.remove(link)
                continue
            reply = await self.hub.wait(pending)
            if reply is not None:
                return reply_response(reply)
            log.warning(
                "run %s: request %s to worker %s was lost (lease expired); sending it again",
                request.run_id,
                pending.request_id,
                link.conn_id,
            )
        return SdkResponse(
            outcome=Errored(
                error_payload(
                    "WorkerLostError",
                    f"the call to function {slug!r} was lost {MAX_SENDS_PER_CALL} times",
                ),
                retriable=True,
            )
        )
