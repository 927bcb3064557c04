"""The HTTP driver's per-step transport against real loopback servers: what an app receives,
keep-alive reuse, and the failures a call can meet, mapped as httpx's errors were."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jcs
import pytest

from stepwell.drivers.http import HttpDriver
from stepwell.drivers.http_transport import AppTransport, TransportError
from stepwell.ports.driver import Errored, ExecutionRequest

OPS = [{"op": "StepRun", "id": "a" * 40, "name": "first", "data": "one"}]


@dataclass
class Request:
    head: list[str]
    headers: dict[str, str]
    body: bytes


@dataclass
class App:
    """A raw HTTP/1.1 server: ``answer`` decides what each request gets (None: nothing)."""

    answer: Callable[[Request], Awaitable[bytes | None]]
    connections: int = 0
    hang_up_after_answer: bool = False
    requests: list[Request] = field(default_factory=list)
    url: str = ""


def reply(status: int, body: bytes, *headers: str, chunked: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {status} X", *headers]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
        step = 65536
        parts = [body[i : i + step] for i in range(0, len(body), step)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    else:
        lines.append(f"Content-Length: {len(body)}")
        payload = body
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


async def sdk_answer(request: Request) -> bytes:
    return reply(
        206,
        json.dumps(OPS).encode(),
        "Content-Type: application/json",
        "X-Inngest-SDK: inngest-py:v0.5.19",
        "x-INNGEST-req-version: 2",
        "X-Seen: a",
        "X-Seen: b",
    )


@pytest.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[App]]]:
    servers: list[asyncio.Server] = []
    handlers: set[asyncio.Task[Any]] = set()

    async def start(
        answer: Callable[[Request], Awaitable[bytes | None]], tls: ssl.SSLContext | None = None
    ) -> App:
        app = App(answer)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            app.connections += 1
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    lines = head.decode("latin-1").split("\r\n")[:-2]
                    headers = {
                        k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])
                    }
                    body = await reader.readexactly(int(headers.get("content-length", "0")))
                    request = Request(lines, headers, body)
                    app.requests.append(request)
                    answer = await app.answer(request)
                    if answer is None:
                        break
                    writer.write(answer)
                    await writer.drain()
                    closing = b"\r\nConnection: close\r\n" in answer.split(b"\r\n\r\n")[0] + b"\r\n"
                    if closing or app.hang_up_after_answer:
                        break
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        app.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}/api/inngest?fnId=f"
        return app

    yield start
    for task in handlers:
        task.cancel()
    for server in servers:
        server.close()


def execution(url: str) -> ExecutionRequest:
    return ExecutionRequest(
        run_id="01RUN",
        function_id="app-f",
        attempt=0,
        max_attempts=3,
        events=[{"name": "e", "data": {}}],
        memo={},
        url=url,
        item_id="01ITEM",
    )


BODY = {"ctx": {"request_id": "req-1", "attempt": 0}, "event": {"name": "e", "data": {}}}


async def test_a_call_sends_the_signed_body_and_reads_the_sdk_answer(serve: Any) -> None:
    app = await serve(sdk_answer)
    driver = HttpDriver(signer=lambda raw: f"t=1&s={len(raw)}")
    statuses: list[int | None] = []
    driver.on_response = statuses.append
    try:
        response = await driver.deliver(execution(app.url), BODY, step_id="step", version=2)
    finally:
        await driver.aclose()
    assert response.outcome is None
    assert [op.id for op in response.ops] == ["a" * 40]
    assert response.version == 2  # read from a header spelled in mixed case
    assert statuses == [206]
    [request] = app.requests
    assert request.head[0] == "POST /api/inngest?fnId=f&stepId=step HTTP/1.1"
    raw = jcs.canonicalize(BODY)
    assert request.body == raw
    assert request.headers["x-inngest-signature"] == f"t=1&s={len(raw)}"
    assert request.headers["x-run-id"] == "01RUN"
    assert request.headers["x-inngest-job-id"] == "01ITEM"
    assert request.headers["x-inngest-req-version"] == "2"
    assert request.headers["x-inngest-step-id"] == "step"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["traceparent"].startswith("00-")


async def test_calls_reuse_one_connection_and_read_headers_as_httpx_did(serve: Any) -> None:
    app = await serve(sdk_answer)
    transport = AppTransport()
    try:
        for _ in range(5):
            status, headers, body = await transport.post(app.url, b"{}", {})
            assert status == 206
            assert json.loads(body) == OPS
    finally:
        await transport.aclose()
    assert app.connections == 1
    assert headers["x-inngest-sdk"] == "inngest-py:v0.5.19"
    assert headers["x-seen"] == "a, b"


async def test_a_body_of_several_megabytes_arrives_whole(serve: Any) -> None:
    big = json.dumps({"blob": "x" * 3_000_000}).encode()

    async def answer(request: Request) -> bytes:
        return reply(200, big, "X-Inngest-SDK: py", chunked=len(request.body) > 1)

    app = await serve(answer)
    transport = AppTransport()
    try:
        for payload in (b"{}", b"{}" * 2_000_000):  # Content-Length, then chunked
            status, _, body = await transport.post(app.url, payload, {})
            assert (status, body) == (200, big)
    finally:
        await transport.aclose()
    assert len(app.requests[1].body) == 4_000_000


async def test_a_server_that_says_close_gets_a_new_connection(serve: Any) -> None:
    async def answer(request: Request) -> bytes:
        return reply(200, b"null", "X-Inngest-SDK: py", "Connection: close")

    app = await serve(answer)
    transport = AppTransport()
    try:
        for _ in range(3):
            assert (await transport.post(app.url, b"{}", {}))[0] == 200
    finally:
        await transport.aclose()
    assert app.connections == 3


async def outcome_of(driver: HttpDriver, url: str) -> Errored:
    statuses: list[int | None] = []
    driver.on_response = statuses.append
    try:
        response = await driver.deliver(execution(url), BODY, step_id="step", version=-1)
    finally:
        await driver.aclose()
    assert statuses == [None]
    assert isinstance(response.outcome, Errored)
    return response.outcome


def assert_transport_failure(outcome: Errored, url: str) -> None:
    # What an httpx.HTTPError gave: retriable, the engine retries the call with backoff.
    assert outcome.retriable is True
    assert outcome.status is None
    assert outcome.error["name"] == "HTTPError"
    assert outcome.error["message"].startswith(f"calling {url}&stepId=step failed: ")


async def test_a_server_that_hangs_up_without_answering_is_a_retriable_failure(
    serve: Any,
) -> None:
    async def hang_up(request: Request) -> None:
        return None

    app = await serve(hang_up)
    outcome = await outcome_of(HttpDriver(), app.url)
    assert_transport_failure(outcome, app.url)
    assert "ServerDisconnectedError" in outcome.error["message"]


async def test_an_answer_slower_than_the_request_timeout_is_a_retriable_failure(
    serve: Any,
) -> None:
    never = asyncio.Event()

    async def stall(request: Request) -> None:
        await never.wait()

    app = await serve(stall)
    outcome = await outcome_of(HttpDriver(request_timeout_s=0.3), app.url)
    assert_transport_failure(outcome, app.url)
    assert "Timeout" in outcome.error["message"]


async def test_a_refused_connection_is_a_retriable_failure(unused_tcp_port: int) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/api/inngest?fnId=f"
    outcome = await outcome_of(HttpDriver(), url)
    assert_transport_failure(outcome, url)
    assert "ClientConnectorError" in outcome.error["message"]


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, and its key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            *subject,
            *files,
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_an_https_app_is_called_over_tls_with_the_trusted_certificates(
    serve: Any, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    app = await serve(sdk_answer, tls=tls)
    # Not trusted (certifi's roots): refused, as httpx refused it.
    untrusted = AppTransport()
    try:
        with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            await untrusted.post(app.url, b"{}", {})
    finally:
        await untrusted.aclose()
    # Trusted the way httpx is told to: SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    trusted = AppTransport()
    try:
        status, headers, _ = await trusted.post(app.url, b"{}", {})
    finally:
        await trusted.aclose()
    assert status == 206
    assert headers["x-inngest-sdk"] == "inngest-py:v0.5.19"


async def test_a_redirect_is_answered_not_followed(serve: Any) -> None:
    async def redirect(request: Request) -> bytes:
        return reply(307, b"", "Location: /elsewhere")

    app = await serve(redirect)
    transport = AppTransport()
    try:
        status, headers, _ = await transport.post(app.url, b"{}", {})
    finally:
        await transport.aclose()
    assert (status, headers["location"]) == (307, "/elsewhere")
    assert len(app.requests) == 1


async def test_the_proxy_of_the_environment_is_used_unless_no_proxy_names_the_host(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = await serve(sdk_answer)
    monkeypatch.setenv("HTTP_PROXY", proxy.url.split("/api")[0])
    monkeypatch.setenv("NO_PROXY", "direct.invalid")
    transport = AppTransport()
    try:
        status, _, _ = await transport.post("http://app.invalid/api/inngest?fnId=f", b"{}", {})
        with pytest.raises(TransportError):  # not proxied: the name does not resolve
            await transport.post("http://direct.invalid/api/inngest", b"{}", {})
    finally:
        await transport.aclose()
    assert status == 206
    [request] = proxy.requests
    assert request.head[0] == "POST http://app.invalid/api/inngest?fnId=f HTTP/1.1"


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"NOT HTTP AT ALL\r\n\r\n", id="garbage"),
        pytest.param(reply(200, b"x" * 100, "X-Inngest-SDK: py")[:-90], id="cut-short body"),
    ],
)
async def test_a_broken_answer_is_a_retriable_failure(serve: Any, answer: bytes) -> None:
    async def broken(request: Request) -> bytes:
        return answer

    app = await serve(broken)
    app.hang_up_after_answer = True
    outcome = await outcome_of(HttpDriver(), app.url)
    assert_transport_failure(outcome, app.url)
