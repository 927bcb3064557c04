"""Inngest Connect's wire messages (workers that dial in over a WebSocket), as protobuf.

The official SDKs speak protobuf (proto3) to the gateway: each WebSocket frame is one
``ConnectMessage`` (a kind and a payload), the payload being one of the messages below, and the
start handshake over HTTP sends a ``StartRequest`` and reads a ``StartResponse``. Only field
numbers and wire types matter on the wire, so the messages are declared here, in code, in a
descriptor pool of our own (package ``stepwell.connect``): the official SDK's generated module
can be loaded in the same process without a clash of names.

Every field is declared as a plain proto3 field (no explicit presence): the peers treat an empty
value as absent, and so do we. Enums travel as varints and are read as plain integers, so an
unknown kind from a newer SDK is an integer we ignore, not a parse error.

Types: the messages are built and read through small typed helpers (``encode``, ``decode``)
rather than generated classes, so the rest of the code sees dataclasses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

PROTOCOL = "v0.connect.inngest.com"
"""The WebSocket subprotocol the SDKs offer."""


class Kind(enum.IntEnum):
    """``ConnectMessage.kind``: what the payload is."""

    GATEWAY_HELLO = 0
    WORKER_CONNECT = 1
    GATEWAY_CONNECTION_READY = 2
    GATEWAY_EXECUTOR_REQUEST = 3
    WORKER_READY = 4
    WORKER_REQUEST_ACK = 5
    WORKER_REPLY = 6
    WORKER_REPLY_ACK = 7
    WORKER_PAUSE = 8
    WORKER_HEARTBEAT = 9
    GATEWAY_HEARTBEAT = 10
    GATEWAY_CLOSING = 11
    WORKER_REQUEST_EXTEND_LEASE = 12
    WORKER_REQUEST_EXTEND_LEASE_ACK = 13
    SYNC_FAILED = 14


class ReplyStatus(enum.IntEnum):
    """``SDKResponse.status``: how the function's call ended (206, 200, or an error)."""

    NOT_COMPLETED = 0
    DONE = 1
    ERROR = 2


_S, _B, _I32, _I64, _BOOL, _MSG = "string", "bytes", "int32", "int64", "bool", "message"
_TYPES = {
    _S: descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
    _B: descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
    _I32: descriptor_pb2.FieldDescriptorProto.TYPE_INT32,
    _I64: descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    _BOOL: descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
    _MSG: descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
}
_REQUEST_ROUTING = [  # the fields an executor request, its ack and its lease share
    ("request_id", 1, _S),
    ("account_id", 2, _S),
    ("env_id", 3, _S),
    ("app_id", 4, _S),
    ("function_slug", 5, _S),
    ("step_id", 6, _S),
    ("system_trace_ctx", 7, _B),
    ("user_trace_ctx", 8, _B),
    ("run_id", 9, _S),
]

# name → [(field, number, type[, message type][, repeated])]
_MESSAGES: dict[str, list[tuple[Any, ...]]] = {
    "Timestamp": [("seconds", 1, _I64), ("nanos", 2, _I32)],
    "ConnectMessage": [("kind", 1, _I32), ("payload", 2, _B)],
    "AppConfiguration": [("app_name", 1, _S), ("app_version", 2, _S), ("functions", 4, _B)],
    "AuthData": [("session_token", 1, _S), ("sync_token", 2, _S)],
    "SystemAttributes": [("cpu_cores", 1, _I32), ("mem_bytes", 2, _I64), ("os", 3, _S)],
    "WorkerConnectRequestData": [
        ("connection_id", 1, _S),
        ("instance_id", 2, _S),
        ("auth_data", 3, _MSG, "AuthData"),
        ("capabilities", 4, _B),
        ("apps", 5, _MSG, "AppConfiguration", True),
        ("worker_manual_readiness_ack", 6, _BOOL),
        ("system_attributes", 7, _MSG, "SystemAttributes"),
        ("environment", 8, _S),
        ("framework", 9, _S),
        ("platform", 10, _S),
        ("sdk_version", 11, _S),
        ("sdk_language", 12, _S),
        ("started_at", 13, _MSG, "Timestamp"),
        ("max_worker_concurrency", 14, _I64),
    ],
    "GatewayConnectionReadyData": [("heartbeat_interval", 1, _S), ("extend_lease_interval", 2, _S)],
    "GatewayExecutorRequestData": [
        ("request_id", 1, _S),
        ("account_id", 2, _S),
        ("env_id", 3, _S),
        ("app_id", 4, _S),
        ("app_name", 5, _S),
        ("function_id", 6, _S),
        ("function_slug", 7, _S),
        ("step_id", 8, _S),
        ("request_payload", 9, _B),
        ("system_trace_ctx", 10, _B),
        ("user_trace_ctx", 11, _B),
        ("run_id", 12, _S),
        ("lease_id", 13, _S),
        ("job_id", 14, _S),
    ],
    "WorkerRequestAckData": _REQUEST_ROUTING,
    "WorkerRequestExtendLeaseData": [*_REQUEST_ROUTING, ("lease_id", 10, _S)],
    "WorkerRequestExtendLeaseAckData": [
        ("request_id", 1, _S),
        ("account_id", 2, _S),
        ("env_id", 3, _S),
        ("app_id", 4, _S),
        ("function_slug", 5, _S),
        ("new_lease_id", 6, _S),
    ],
    "SDKResponse": [
        ("request_id", 1, _S),
        ("account_id", 2, _S),
        ("env_id", 3, _S),
        ("app_id", 4, _S),
        ("status", 5, _I32),
        ("body", 6, _B),
        ("no_retry", 7, _BOOL),
        ("retry_after", 8, _S),
        ("sdk_version", 9, _S),
        ("request_version", 10, _I32),
        ("system_trace_ctx", 11, _B),
        ("user_trace_ctx", 12, _B),
        ("run_id", 13, _S),
    ],
    "WorkerReplyAckData": [("request_id", 1, _S)],
    "StartRequest": [("exclude_gateways", 1, _S, None, True)],
    "StartResponse": [
        ("connection_id", 1, _S),
        ("gateway_endpoint", 2, _S),
        ("gateway_group", 3, _S),
        ("session_token", 4, _S),
        ("sync_token", 5, _S),
    ],
    "FlushResponse": [("request_id", 1, _S)],
    "SystemError": [("code", 1, _S), ("data", 2, _B), ("message", 3, _S)],
}
_PACKAGE = "stepwell.connect"


def _build_classes() -> dict[str, Any]:
    file = descriptor_pb2.FileDescriptorProto(
        name="stepwell/connect.proto", package=_PACKAGE, syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for spec in fields:
            field_name, number, kind = spec[0], spec[1], spec[2]
            type_name = spec[3] if len(spec) > 3 else None
            repeated = len(spec) > 4 and spec[4]
            proto = message.field.add(name=field_name, number=number, type=_TYPES[kind])
            proto.label = (
                descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
                if repeated
                else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
            )
            if type_name:
                proto.type_name = f".{_PACKAGE}.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name in _MESSAGES
    }


_CLASSES = _build_classes()


class WireError(ValueError):
    """Bytes that are not the message they should be; ``str()`` says which."""


def encode(name: str, **fields: Any) -> bytes:
    """The message ``name`` with ``fields`` (nested messages as dicts), serialised."""
    data: bytes = _CLASSES[name](**fields).SerializeToString()
    return data


def decode(name: str, data: bytes) -> Any:
    """``data`` read as the message ``name`` (a protobuf message; fields read as attributes)."""
    message = _CLASSES[name]()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise WireError(f"not a valid {name} message: {exc}") from None
    return message


def frame(kind: Kind, payload: bytes = b"") -> bytes:
    """One WebSocket frame: a ``ConnectMessage``."""
    return encode("ConnectMessage", kind=int(kind), payload=payload)


def read_frame(data: bytes) -> tuple[int, bytes]:
    message = decode("ConnectMessage", data)
    return int(message.kind), bytes(message.payload)


@dataclass(frozen=True, slots=True)
class AppConfig:
    app_name: str
    app_version: str
    functions: bytes
    """The function configs as JSON, in the shape of a registration's ``functions``."""


@dataclass(frozen=True, slots=True)
class WorkerConnect:
    """``WORKER_CONNECT``: who the worker is and what it serves."""

    connection_id: str
    instance_id: str
    session_token: str
    sync_token: str
    apps: list[AppConfig]
    manual_readiness_ack: bool
    environment: str
    framework: str
    platform: str
    sdk_version: str
    sdk_language: str
    max_worker_concurrency: int
    capabilities: bytes = b""
    cpu_cores: int = 0
    os: str = ""

    @classmethod
    def parse(cls, payload: bytes) -> WorkerConnect:
        raw = decode("WorkerConnectRequestData", payload)
        return cls(
            connection_id=str(raw.connection_id),
            instance_id=str(raw.instance_id),
            session_token=str(raw.auth_data.session_token),
            sync_token=str(raw.auth_data.sync_token),
            apps=[
                AppConfig(str(app.app_name), str(app.app_version), bytes(app.functions))
                for app in raw.apps
            ],
            manual_readiness_ack=bool(raw.worker_manual_readiness_ack),
            environment=str(raw.environment),
            framework=str(raw.framework),
            platform=str(raw.platform),
            sdk_version=str(raw.sdk_version),
            sdk_language=str(raw.sdk_language),
            max_worker_concurrency=int(raw.max_worker_concurrency),
            capabilities=bytes(raw.capabilities),
            cpu_cores=int(raw.system_attributes.cpu_cores),
            os=str(raw.system_attributes.os),
        )


@dataclass(frozen=True, slots=True)
class Reply:
    """``WORKER_REPLY`` (an ``SDKResponse``): the function call's answer."""

    request_id: str
    status: int
    body: bytes
    no_retry: bool
    retry_after: str
    sdk_version: str
    request_version: int

    @classmethod
    def parse(cls, payload: bytes) -> Reply:
        raw = decode("SDKResponse", payload)
        return cls(
            request_id=str(raw.request_id),
            status=int(raw.status),
            body=bytes(raw.body),
            no_retry=bool(raw.no_retry),
            retry_after=str(raw.retry_after),
            sdk_version=str(raw.sdk_version),
            request_version=int(raw.request_version),
        )


def request_id_of(name: str, payload: bytes) -> str:
    """The ``request_id`` of an ack or a reply ack (field 1 in each)."""
    return str(decode(name, payload).request_id)


def lease_extension(payload: bytes) -> tuple[str, str]:
    """``WORKER_REQUEST_EXTEND_LEASE``: the request and the lease the worker holds."""
    raw = decode("WorkerRequestExtendLeaseData", payload)
    return str(raw.request_id), str(raw.lease_id)
