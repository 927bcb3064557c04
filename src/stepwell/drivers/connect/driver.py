"""The Connect driver: calls functions of workers that dialled in over a WebSocket.

An execution runs exactly as over HTTP (the same loop: checkpointed steps, planned parallel
steps, ``step.fetch`` performed here); only the transport of each call differs. A call is an
executor request sent to a connected worker serving the function, and its answer is the
worker's reply. A request lost on the way (its lease ran out: the worker died or vanished) is
sent again, to any worker that can take it, without costing the run an attempt: the step never
reported anything.

Several processes on one database: a call whose function no socket of ours serves goes to a
process whose sockets do, through the relay (``Relay``; the PostgreSQL one forwards the request
in a table row named by a NOTIFY). That process sends it to its worker and hands the reply back;
if it dies meanwhile, the call is lost and sent again like any other.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from stepwell.core.errors import error_payload
from stepwell.drivers.connect.hub import Hub, Link
from stepwell.drivers.connect.urls import function_slug
from stepwell.drivers.http import HttpDriver
from stepwell.drivers.http_response import SdkResponse, classify_response
from stepwell.ports.driver import Errored, ExecutionRequest, Released
from stepwell.protocol.connect_wire import Kind, Reply, ReplyStatus, decode, encode, frame
from stepwell.protocol.ops import Op

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("stepwell.driver.connect")

MAX_SENDS_PER_CALL = 10
"""How many times one call is sent before the execution fails (retriably) instead."""
_STATUS = {ReplyStatus.DONE: 200, ReplyStatus.NOT_COMPLETED: 206, ReplyStatus.ERROR: 500}


def reply_response(reply: Reply) -> SdkResponse:
    """A worker's reply read as the HTTP answer it stands for."""
    status = _STATUS.get(ReplyStatus(reply.status), 500) if reply.status in (0, 1, 2) else 500
    if status == 200 and reply.no_retry:
        # The TS SDK's reply has no status for its 400 (a non-retriable error): it sends DONE
        # with no_retry set, which a completion never has.
        status = 400
    headers = {
        "x-inngest-sdk": reply.sdk_version or "connect",
        "x-inngest-no-retry": "true" if reply.no_retry else "false",
    }
    if reply.request_version > 0:
        headers["x-inngest-req-version"] = str(reply.request_version)
    if reply.retry_after:
        headers["retry-after"] = reply.retry_after
    return classify_response(status, headers, reply.body)


class Relay(Protocol):
    """Reaches the workers whose sockets other processes hold (several servers, one database;
    ``stepwell.store.postgres.relay``)."""

    poll_s: float

    async def find(self, slug: str) -> str | None: ...

    async def call(self, target: str, request: bytes) -> bytes | None: ...


class ConnectDriver(HttpDriver):
    def __init__(
        self, hub: Hub, *, worker_wait_s: float = 30.0, client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(client=client)
        self.hub = hub
        self.relay: Relay | None = None
        self._worker_wait_s = worker_wait_s

    async def checkpoint_async(
        self, run_id: str, ops: list[Op], request_id: str | None = None
    ) -> bool:
        # A worker's async checkpoint names the Connect request it is serving, not the id in
        # the call's body that the HTTP driver checks: any call of the run in progress counts.
        return await super().checkpoint_async(run_id, ops, None)

    async def deliver(
        self, request: ExecutionRequest, body: dict[str, Any], *, step_id: str, version: int
    ) -> SdkResponse:
        payload = json.dumps(body, separators=(",", ":")).encode("utf-8")
        slug = function_slug(str(request.url))
        forward = encode(  # what the process holding the socket fills in and sends
            "GatewayExecutorRequestData",
            function_id=request.function_uuid,
            function_slug=slug,
            step_id=step_id,
            request_payload=payload,
            run_id=request.run_id,
            job_id=request.item_id,
        )
        for _ in range(MAX_SENDS_PER_CALL):
            if self._draining:
                return SdkResponse(outcome=Released())
            route = await self._route(slug)
            if route is None:
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
            if isinstance(route, str):
                assert self.relay is not None
                answer = await self.relay.call(route, forward)
                reply = Reply.parse(answer) if answer is not None else None
                where = f"process {route}"
            else:
                reply = await self._send(route, forward)
                where = f"worker {route.conn_id}"
            if reply is not None:
                return reply_response(reply)
            log.warning(
                "run %s: the call to %s via %s was lost; sending it again",
                request.run_id,
                slug,
                where,
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

    async def _route(self, slug: str) -> Link | str | None:
        """A local link serving ``slug`` (preferred), else another process holding one (its
        id), waiting up to the worker wait for either to appear."""
        relay = self.relay
        if relay is None:
            return await self.hub.pick(slug, self._worker_wait_s)
        deadline = time.monotonic() + self._worker_wait_s
        while True:
            remaining = deadline - time.monotonic()
            link = await self.hub.pick(slug, 0.0)
            if link is not None:
                return link
            target = await relay.find(slug)
            if target is not None:
                return target
            if remaining <= 0:
                return None
            link = await self.hub.pick(slug, min(remaining, relay.poll_s))
            if link is not None:
                return link

    async def serve_forwarded(self, forward: bytes) -> bytes | None:
        """A request another process forwarded to our sockets: the worker's reply (an encoded
        ``SDKResponse``), or None when no worker of ours took it (the origin sends it again)."""
        message = decode("GatewayExecutorRequestData", forward)
        slug = str(message.function_slug)
        # Busy workers are waited for; none at all (it went away meanwhile): given back now.
        link = await self.hub.pick(slug, self._worker_wait_s) if self.hub.serves(slug) else None
        if link is None:
            return None
        reply = await self._send(link, forward)
        if reply is None:
            return None
        return encode(
            "SDKResponse",
            request_id=reply.request_id,
            status=reply.status,
            body=reply.body,
            no_retry=reply.no_retry,
            retry_after=reply.retry_after,
            sdk_version=reply.sdk_version,
            request_version=reply.request_version,
        )

    async def _send(self, link: Link, forward: bytes) -> Reply | None:
        """Send a request over ``link``: the reply, or None when it was lost."""
        message = decode("GatewayExecutorRequestData", forward)
        slug = str(message.function_slug)
        pending = self.hub.open(link, slug)
        app_name = link.slugs[slug]
        message.request_id = pending.request_id
        message.lease_id = pending.lease_id
        message.app_name = app_name
        message.app_id = link.apps.get(app_name, "")
        try:
            await link.deliver(frame(Kind.GATEWAY_EXECUTOR_REQUEST, message.SerializeToString()))
        except Exception as exc:  # the socket went away under us: try another worker
            log.info("sending to worker %s failed: %s", link.conn_id, exc)
            self.hub.forget(pending)
            self.hub.remove(link)
            return None
        return await self.hub.wait(pending)
