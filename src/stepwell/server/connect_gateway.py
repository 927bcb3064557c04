"""The Connect gateway: the WebSocket workers open (``ws://<host>:<port + 1>/v0/connect``).

One session, as the official SDKs run it:

1. the gateway says ``GATEWAY_HELLO``;
2. the worker sends ``WORKER_CONNECT``: its connection id (from ``/v0/connect/start``), its
   session token, and each app it serves with the function configs; the gateway checks it all
   and syncs the apps (an app that does not sync is refused with ``SYNC_FAILED``, naming why);
3. the gateway answers ``GATEWAY_CONNECTION_READY`` with the heartbeat and lease-extension
   intervals; the worker gets requests from then on (or after ``WORKER_READY``, if it asked to
   say when);
4. then: heartbeats both ways, executor requests out, acks, lease extensions and replies in,
   ``WORKER_PAUSE`` when the worker drains. A worker silent for three heartbeat intervals is
   dropped. On shutdown uvicorn closes the sockets with 1012 (service restart): the SDKs then
   reconnect, here once the server is back or to another process on the same database.

Refusals close the socket with a code and a reason that says what was wrong (1008 for
authentication, 1002 for a message out of place or unreadable, 4001 for a failed sync).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import urllib.parse
from typing import Any

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from stepwell.drivers.connect.hub import Link
from stepwell.protocol.connect_wire import (
    PROTOCOL,
    Kind,
    Reply,
    WireError,
    WorkerConnect,
    encode,
    frame,
    lease_extension,
    read_frame,
    request_id_of,
)
from stepwell.protocol.registration import REGISTRATION_VERSION, RegistrationError
from stepwell.server.connect_api import GATEWAY_PATH, token_problem
from stepwell.server.direct_route import DirectRoute
from stepwell.server.runtime import ServerRuntime

log = logging.getLogger("stepwell.server.connect")

HANDSHAKE_TIMEOUT_S = 10.0
MISSED_HEARTBEATS = 3
MAX_APPS = 100
MAX_ID_CHARS = 256
AUTH_FAILED, PROTOCOL_ERROR, SYNC_FAILED = 1008, 1002, 4001


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def registration_of(hello: WorkerConnect, index: int) -> dict[str, Any]:
    """App ``index`` of a ``WORKER_CONNECT`` as a ``/fn/register`` payload."""
    app = hello.apps[index]
    where = f"apps[{index}]"
    if not app.app_name.strip():
        raise RegistrationError(f"{where}.app_name: an app name is required")
    try:
        functions = json.loads(app.functions or b"[]")
    except ValueError as exc:
        raise RegistrationError(f"{where}.functions: not valid JSON: {exc}") from None
    if not isinstance(functions, list):
        raise RegistrationError(f"{where}.functions: expected a JSON array of function configs")
    try:
        capabilities = json.loads(hello.capabilities or b"{}")
    except ValueError:
        capabilities = {}
    return {
        "appName": app.app_name,
        "appVersion": app.app_version,
        "url": f"wss://connect/{urllib.parse.quote(app.app_name, safe='')}",
        "framework": hello.framework or "connect",
        "sdk": sdk_name(hello),
        "functions": functions,
        "deployType": "connect",
        "capabilities": capabilities if isinstance(capabilities, dict) else {},
        "v": REGISTRATION_VERSION,
    }


def sdk_name(hello: WorkerConnect) -> str:
    """``py:v0.5.19``; the TS SDK's version comes with its ``v`` already."""
    return f"{hello.sdk_language}:v{hello.sdk_version.removeprefix('v')}"


class Gateway:
    def __init__(self, runtime: ServerRuntime) -> None:
        self._runtime = runtime
        self._config = runtime.config
        self._hub = runtime.connect_hub
        self._sync_lock = asyncio.Lock()

    @property
    def lease_interval_s(self) -> int:
        """How often workers extend their leases: a quarter of the lease, whole seconds."""
        return max(1, math.floor(self._config.connect_lease_s / 4))

    async def session(self, ws: WebSocket) -> None:
        offered = ws.scope.get("subprotocols") or []
        await ws.accept(subprotocol=PROTOCOL if PROTOCOL in offered else None)
        link: Link | None = None
        try:
            await ws.send_bytes(frame(Kind.GATEWAY_HELLO))
            link = await self._handshake(ws)
            await self._serve(ws, link)
        except Refused as exc:
            log.warning("Connect worker refused: %s", exc.reason)
            with contextlib.suppress(Exception):
                await ws.close(exc.code, exc.reason[:120])
        except (WebSocketDisconnect, RuntimeError):
            pass  # the worker went away
        finally:
            if link is not None:
                self._hub.remove(link)

    async def _receive(self, ws: WebSocket, timeout_s: float) -> tuple[int, bytes]:
        message = await asyncio.wait_for(ws.receive(), timeout_s)
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(int(message.get("code", 1000)))
        data = message.get("bytes")
        if data is None:
            raise Refused(PROTOCOL_ERROR, "expected binary frames (protobuf ConnectMessage)")
        try:
            return read_frame(data)
        except WireError as exc:
            raise Refused(PROTOCOL_ERROR, str(exc)) from None

    async def _handshake(self, ws: WebSocket) -> Link:
        try:
            kind, payload = await self._receive(ws, HANDSHAKE_TIMEOUT_S)
        except TimeoutError:
            raise Refused(PROTOCOL_ERROR, "no WORKER_CONNECT within 10s of the hello") from None
        if kind != Kind.WORKER_CONNECT:
            raise Refused(PROTOCOL_ERROR, f"expected WORKER_CONNECT first, got kind {kind}")
        try:
            hello = WorkerConnect.parse(payload)
        except WireError as exc:
            raise Refused(PROTOCOL_ERROR, f"WORKER_CONNECT: {exc}") from None
        self._check(hello)
        apps: dict[str, str] = {}
        slugs: dict[str, str] = {}
        async with self._sync_lock:
            for index, app in enumerate(hello.apps):
                try:
                    payload_json = registration_of(hello, index)
                    result = await self._runtime.catalog.sync(payload_json)
                except (RegistrationError, ValueError) as exc:
                    failure = encode("SystemError", code="sync_failed", message=str(exc))
                    await ws.send_bytes(frame(Kind.SYNC_FAILED, failure))
                    raise Refused(SYNC_FAILED, f"app {app.app_name!r}: {exc}") from None
                apps[app.app_name] = result.app_uuid
                for fn in payload_json["functions"]:
                    if isinstance(fn, dict) and isinstance(fn.get("id"), str):
                        slugs[fn["id"]] = app.app_name
        link = Link(
            conn_id=hello.connection_id,
            instance_id=hello.instance_id,
            send=ws.send_bytes,
            apps=apps,
            slugs=slugs,
            capacity=max(0, hello.max_worker_concurrency),
            sdk=sdk_name(hello),
            connected_at_ms=int(time.time() * 1000),
        )
        self._hub.add(link)
        ready = encode(
            "GatewayConnectionReadyData",
            heartbeat_interval=f"{max(1, round(self._config.connect_heartbeat_s))}s",
            extend_lease_interval=f"{self.lease_interval_s}s",
        )
        await link.deliver(frame(Kind.GATEWAY_CONNECTION_READY, ready))
        if not hello.manual_readiness_ack:
            self._hub.make_ready(link)
        log.info("Connect worker %s (%s) serves %s", link.conn_id, link.instance_id, sorted(apps))
        return link

    def _check(self, hello: WorkerConnect) -> None:
        if not hello.connection_id or len(hello.connection_id) > MAX_ID_CHARS:
            raise Refused(
                PROTOCOL_ERROR, "WORKER_CONNECT.connection_id: expected the id from start"
            )
        if len(hello.instance_id) > MAX_ID_CHARS:
            raise Refused(PROTOCOL_ERROR, "WORKER_CONNECT.instance_id: too long")
        if not hello.apps:
            raise Refused(PROTOCOL_ERROR, "WORKER_CONNECT.apps: the worker serves no app")
        if len(hello.apps) > MAX_APPS:
            raise Refused(PROTOCOL_ERROR, f"WORKER_CONNECT.apps: more than {MAX_APPS} apps")
        if not self._config.dev:
            problem = token_problem(
                hello.connection_id, hello.session_token, self._config.signing_keys
            )
            if problem is not None:
                raise Refused(AUTH_FAILED, f"WORKER_CONNECT.auth_data: {problem}")

    async def _serve(self, ws: WebSocket, link: Link) -> None:
        silence_s = MISSED_HEARTBEATS * self._config.connect_heartbeat_s
        hub = self._hub
        while not link.closed:
            try:
                kind, payload = await self._receive(ws, silence_s)
            except TimeoutError:
                raise Refused(
                    4002, f"no message for {silence_s:g}s ({MISSED_HEARTBEATS} heartbeats missed)"
                ) from None
            link.last_seen = time.monotonic()
            try:
                if kind == Kind.WORKER_HEARTBEAT:
                    await link.deliver(frame(Kind.GATEWAY_HEARTBEAT))
                elif kind == Kind.WORKER_REQUEST_ACK:
                    hub.acknowledge(request_id_of("WorkerRequestAckData", payload), link)
                elif kind == Kind.WORKER_REQUEST_EXTEND_LEASE:
                    request_id, lease_id = lease_extension(payload)
                    new_lease = hub.extend(request_id, lease_id, link)
                    ack = encode(
                        "WorkerRequestExtendLeaseAckData",
                        request_id=request_id,
                        new_lease_id=new_lease or "",
                    )
                    await link.deliver(frame(Kind.WORKER_REQUEST_EXTEND_LEASE_ACK, ack))
                elif kind == Kind.WORKER_REPLY:
                    reply = Reply.parse(payload)
                    hub.answer(reply)  # acknowledged even when dropped: the worker forgets it
                    ack = encode("WorkerReplyAckData", request_id=reply.request_id)
                    await link.deliver(frame(Kind.WORKER_REPLY_ACK, ack))
                elif kind == Kind.WORKER_READY:
                    hub.make_ready(link)
                elif kind == Kind.WORKER_PAUSE:
                    log.info("Connect worker %s is draining", link.conn_id)
                    hub.pause(link)
                else:
                    log.debug("Connect worker %s sent kind %s: ignored", link.conn_id, kind)
            except WireError as exc:
                raise Refused(PROTOCOL_ERROR, f"message of kind {kind}: {exc}") from None


class PortSplit:
    """One server, two ports: the gateway's port serves only the gateway; lifespan and the
    API's port go to the API."""

    def __init__(self, api: ASGIApp, gateway: ASGIApp, gateway_port: int) -> None:
        self._api = api
        self._gateway = gateway
        self._port = gateway_port
        route: DirectRoute | None = getattr(api, "direct_route", None)
        self.direct_route = None if route is None else route.on_all_ports_but(gateway_port)
        """The API's, except on the gateway's port (``server.direct_route``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] != "lifespan" and server is not None and server[1] == self._port:
            await self._gateway(scope, receive, send)
            return
        await self._api(scope, receive, send)


def with_gateway(api: ASGIApp, runtime: ServerRuntime) -> PortSplit:
    gateway = Gateway(runtime)
    app = Starlette(routes=[WebSocketRoute(GATEWAY_PATH, gateway.session)])
    return PortSplit(api, app, runtime.config.gateway_port)
