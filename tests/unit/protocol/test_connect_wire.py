"""Our Connect messages against the official Python SDK's generated ones: same bytes, both ways."""

from __future__ import annotations

import pytest
from inngest.connect._internal import connect_pb2 as sdk

from stepwell.protocol.connect_wire import (
    Kind,
    Reply,
    ReplyStatus,
    WireError,
    WorkerConnect,
    decode,
    encode,
    frame,
    lease_extension,
    read_frame,
)


def test_the_kinds_and_statuses_have_the_sdk_s_numbers() -> None:
    for kind in Kind:
        assert sdk.GatewayMessageType.Value(kind.name) == kind.value
    for status in ReplyStatus:
        assert sdk.SDKResponseStatus.Value(status.name) == status.value


def test_a_worker_connect_from_the_sdk_reads_back() -> None:
    payload = sdk.WorkerConnectRequestData(
        connection_id="c1",
        instance_id="host",
        auth_data=sdk.AuthData(session_token="s", sync_token="t"),
        apps=[sdk.AppConfiguration(app_name="app", app_version="v1", functions=b"[]")],
        capabilities=b'{"connect":"v1"}',
        worker_manual_readiness_ack=True,
        system_attributes=sdk.SystemAttributes(cpu_cores=4, mem_bytes=1 << 30, os="linux"),
        framework="connect",
        sdk_version="0.5.19",
        sdk_language="py",
        max_worker_concurrency=7,
    ).SerializeToString()
    kind, body = read_frame(
        sdk.ConnectMessage(kind=sdk.WORKER_CONNECT, payload=payload).SerializeToString()
    )
    assert kind == Kind.WORKER_CONNECT
    hello = WorkerConnect.parse(body)
    assert (hello.connection_id, hello.instance_id) == ("c1", "host")
    assert (hello.session_token, hello.sync_token) == ("s", "t")
    assert [(a.app_name, a.app_version, a.functions) for a in hello.apps] == [("app", "v1", b"[]")]
    assert hello.manual_readiness_ack
    assert hello.max_worker_concurrency == 7
    assert (hello.cpu_cores, hello.os, hello.sdk_language) == (4, "linux", "py")


def test_what_the_gateway_sends_parses_in_the_sdk() -> None:
    request = sdk.GatewayExecutorRequestData()
    request.ParseFromString(
        encode(
            "GatewayExecutorRequestData",
            request_id="r",
            app_name="app",
            function_slug="app-fn",
            step_id="step",
            request_payload=b'{"a":1}',
            run_id="run",
            lease_id="l",
            job_id="j",
        )
    )
    assert (request.request_id, request.app_name, request.function_slug) == ("r", "app", "app-fn")
    assert (request.step_id, request.request_payload, request.lease_id) == ("step", b'{"a":1}', "l")
    ready = sdk.GatewayConnectionReadyData()
    ready.ParseFromString(
        encode("GatewayConnectionReadyData", heartbeat_interval="10s", extend_lease_interval="5s")
    )
    assert (ready.heartbeat_interval, ready.extend_lease_interval) == ("10s", "5s")
    start = sdk.StartResponse()
    start.ParseFromString(encode("StartResponse", connection_id="c", gateway_endpoint="ws://h/"))
    assert (start.connection_id, start.gateway_endpoint) == ("c", "ws://h/")
    message = sdk.ConnectMessage()
    message.ParseFromString(frame(Kind.GATEWAY_HEARTBEAT))
    assert message.kind == sdk.GATEWAY_HEARTBEAT
    ack = sdk.WorkerRequestExtendLeaseAckData()
    ack.ParseFromString(encode("WorkerRequestExtendLeaseAckData", request_id="r", new_lease_id=""))
    assert not ack.new_lease_id  # "no new lease": the SDK stops extending


def test_replies_and_lease_extensions_from_the_sdk_read_back() -> None:
    reply = Reply.parse(
        sdk.SDKResponse(
            request_id="r",
            status=sdk.NOT_COMPLETED,
            body=b"[]",
            no_retry=True,
            retry_after="5",
            sdk_version="inngest-py:v0.5.19",
            request_version=1,
        ).SerializeToString()
    )
    assert reply == Reply("r", ReplyStatus.NOT_COMPLETED, b"[]", True, "5", "inngest-py:v0.5.19", 1)
    extension = sdk.WorkerRequestExtendLeaseData(request_id="r", lease_id="l", run_id="x")
    assert lease_extension(extension.SerializeToString()) == ("r", "l")


def test_garbage_is_refused_naming_the_message() -> None:
    with pytest.raises(WireError, match="ConnectMessage"):
        read_frame(b"\xff\xff\xff")
    with pytest.raises(WireError, match="StartRequest"):
        decode("StartRequest", b"\x0a\x05ab")  # a string field cut short
