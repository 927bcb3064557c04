"""The lean HTTP/1.1 client of the per-step call (drivers/http_wire.py) against real loopback
servers: a raw asyncio server that answers as each test scripts it, and uvicorn. Keep-alive
reuse, the pool's limit and idle expiry, stale connections, framing, timeouts and failures;
each test runs on asyncio's loop and on uvloop (conftest.py)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, suppress
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from stepwell.drivers.http_transport import AppTransport
from stepwell.drivers.http_wire import Target, TransportError, wire_target
from stepwell.drivers.http_wire_pool import WirePool
from tests.integration.sdk.serving import serving
from tests.waiting import eventually


@dataclass
class Request:
    line: str
    headers: dict[str, str]
    body: bytes
    connection: int  # which connection of the server's it came on (1, 2, ...)
    on_connection: int  # its place on that connection (1, 2, ...)
    until_hung_up: Callable[[], Awaitable[bytes]]  # what the client sends until it closes


Writer = Callable[[bytes], Awaitable[None]]
Script = Callable[[Request, Writer], Awaitable[bool]]
"""Answers a request through the writer; False hangs the connection up afterwards."""


@dataclass
class Server:
    """A raw HTTP/1.1 server on loopback; ``script`` decides what each request gets."""

    script: Script
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    closed: int = 0  # connections the client closed or we hung up
    url: str = ""

    @property
    def target(self) -> Target:
        target = wire_target(self.url)
        assert target is not None
        return target


def reply(status: int, body: bytes, *headers: str) -> bytes:
    head = "\r\n".join([f"HTTP/1.1 {status} X", *headers, f"Content-Length: {len(body)}"])
    return f"{head}\r\n\r\n".encode() + body


def chunked(status: int, parts: list[bytes], *headers: str) -> bytes:
    head = "\r\n".join([f"HTTP/1.1 {status} X", *headers, "Transfer-Encoding: chunked"])
    payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    return f"{head}\r\n\r\n".encode() + payload


async def ok(request: Request, write: Writer) -> bool:
    await write(reply(200, b'{"ok":true}', "X-Inngest-SDK: py"))
    return True


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Script], Awaitable[Server]]]:
    servers: list[asyncio.Server] = []
    handlers: set[asyncio.Task[Any]] = set()

    async def start(script: Script) -> Server:
        app = Server(script)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            app.connections += 1
            number, count = app.connections, 0

            async def write(data: bytes) -> None:
                writer.write(data)
                await writer.drain()

            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    line, *fields = head.decode("latin-1").split("\r\n")[:-2]
                    headers: dict[str, str] = {}
                    for name, _, value in (f.partition(":") for f in fields):
                        assert name.lower() not in headers, f"{name} sent twice"
                        headers[name.lower()] = value.strip()
                    body = await reader.readexactly(int(headers["content-length"]))
                    count += 1
                    request = Request(line, headers, body, number, count, reader.read)
                    app.requests.append(request)
                    if not await app.script(request, write):
                        break
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()
                app.closed += 1

        server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=1 << 24)
        servers.append(server)
        app.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/api/inngest?fnId=f"
        return app

    yield start
    for task in handlers:
        task.cancel()
    for server in servers:
        server.close()


@pytest.fixture
async def pool() -> AsyncIterator[WirePool]:
    made = WirePool(asyncio.get_running_loop(), read_timeout_s=30.0)
    yield made
    await made.aclose()


async def test_calls_reuse_one_connection_and_read_headers_as_the_driver_expects(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    async def sdk(request: Request, write: Writer) -> bool:
        await write(
            reply(
                206,
                b'[{"op":"StepRun"}]',
                "Content-Type: application/json",
                "X-Inngest-SDK: inngest-py:v0.5.19",
                "x-INNGEST-req-version: 2",
                "X-Seen: a",
                "x-seen: b",
                "X-Padded:  v \t",
            )
        )
        return True

    app = await serve(sdk)
    sent = {"Content-Type": "application/json", "X-Run-ID": "01RUN"}
    for n in range(5):
        status, headers, body = await pool.post(app.target, b'{"n":%d}' % n, sent)
        assert (status, body) == (206, b'[{"op":"StepRun"}]')
    assert headers == {
        "content-type": "application/json",
        "x-inngest-sdk": "inngest-py:v0.5.19",
        "x-inngest-req-version": "2",
        "x-seen": "a, b",
        "x-padded": "v",  # trailing blanks off, as aiohttp and httpx read them
        "content-length": "18",
    }
    assert app.connections == 1
    assert pool.connections == 1
    assert [r.body for r in app.requests] == [b'{"n":%d}' % n for n in range(5)]
    request = app.requests[0]
    assert request.line == "POST /api/inngest?fnId=f HTTP/1.1"
    port = app.url.split(":")[2].split("/")[0]
    assert request.headers == {
        "host": f"127.0.0.1:{port}",
        "user-agent": "stepwell",
        "content-type": "application/json",
        "x-run-id": "01RUN",
        "content-length": "7",
    }


async def test_the_pool_keeps_to_its_limit_and_queues_the_rest(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    app = await serve(ok)
    pool = WirePool(asyncio.get_running_loop(), limit=2)
    try:
        answers = await asyncio.gather(*(pool.post(app.target, b"{}", {}) for _ in range(8)))
    finally:
        await pool.aclose()
    assert {status for status, _, _ in answers} == {200}
    assert app.connections == 2
    assert len(app.requests) == 8


async def test_at_the_limit_an_idle_connection_to_another_app_makes_room(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    first, second = await serve(ok), await serve(ok)
    pool = WirePool(asyncio.get_running_loop(), limit=1)
    try:
        await pool.post(first.target, b"{}", {})
        await pool.post(second.target, b"{}", {})
        await eventually(lambda: first.closed == 1, what="the first app's connection closed")
        assert pool.connections == 1
    finally:
        await pool.aclose()


async def test_a_caller_waits_for_a_free_connection_no_longer_than_the_timeout(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    never = asyncio.Event()

    async def stall(request: Request, write: Writer) -> bool:
        await never.wait()
        return False

    app = await serve(stall)
    pool = WirePool(asyncio.get_running_loop(), limit=1, read_timeout_s=0.3)
    try:
        outcomes = await asyncio.gather(
            pool.post(app.target, b"{}", {}),
            pool.post(app.target, b"{}", {}),
            return_exceptions=True,
        )
    finally:
        await pool.aclose()
    kinds = sorted(e.kind for e in outcomes if isinstance(e, TransportError))
    assert kinds == ["ConnectionTimeoutError", "SocketTimeoutError"]
    assert len(app.requests) == 1


async def test_an_idle_connection_is_closed_after_the_keepalive_time(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    app = await serve(ok)
    pool = WirePool(asyncio.get_running_loop(), keepalive_s=0.2)
    try:
        await pool.post(app.target, b"{}", {})
        await eventually(lambda: app.closed == 1, what="the idle connection closed")
        assert pool.connections == 0
        await pool.post(app.target, b"{}", {})
    finally:
        await pool.aclose()
    assert app.connections == 2


async def test_a_connection_the_app_closed_while_idle_is_not_used_again(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    async def answer_then_hang_up(request: Request, write: Writer) -> bool:
        await ok(request, write)
        return False  # no "Connection: close" said

    app = await serve(answer_then_hang_up)
    await pool.post(app.target, b"{}", {})
    await eventually(lambda: pool.connections == 0, what="the client saw the hang-up")
    status, _, _ = await pool.post(app.target, b"{}", {})
    assert status == 200
    assert (app.connections, len(app.requests)) == (2, 2)


async def test_a_kept_connection_that_fails_before_answering_is_retried_once_on_a_new_one(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    async def drop_the_second_on_a_connection(request: Request, write: Writer) -> bool:
        if request.on_connection == 2:
            return False  # the app's keep-alive ran out as the request came
        return await ok(request, write)

    app = await serve(drop_the_second_on_a_connection)
    await pool.post(app.target, b"1", {})
    status, _, _ = await pool.post(app.target, b"2", {})
    assert status == 200
    assert [(r.body, r.connection) for r in app.requests] == [(b"1", 1), (b"2", 1), (b"2", 2)]


async def test_the_retry_on_a_new_connection_is_the_only_one(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    async def answer_only_the_first(request: Request, write: Writer) -> bool:
        return len(app.requests) == 1 and await ok(request, write)

    app = await serve(answer_only_the_first)
    await pool.post(app.target, b"1", {})
    with pytest.raises(TransportError) as failed:
        await pool.post(app.target, b"2", {})
    assert failed.value.kind == "ServerDisconnectedError"
    assert len(app.requests) == 3


async def test_a_new_connection_that_fails_before_answering_is_not_retried(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    async def hang_up(request: Request, write: Writer) -> bool:
        return False

    app = await serve(hang_up)
    with pytest.raises(TransportError) as failed:
        await pool.post(app.target, b"{}", {})
    assert failed.value.kind == "ServerDisconnectedError"
    assert len(app.requests) == 1


async def test_a_failure_after_part_of_the_answer_is_not_retried(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    async def cut_short_the_second(request: Request, write: Writer) -> bool:
        if request.on_connection == 2:
            await write(reply(200, b"x" * 100)[:-50])
            return False
        return await ok(request, write)

    app = await serve(cut_short_the_second)
    await pool.post(app.target, b"{}", {})
    with pytest.raises(TransportError) as failed:
        await pool.post(app.target, b"{}", {})
    assert failed.value.kind == "ClientPayloadError"
    assert len(app.requests) == 2


async def test_an_answer_in_pieces_and_chunks_arrives_whole(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    parts = [b'{"a":', b" 1,", b' "b": [1, 2, 3]', b"}"]

    async def in_pieces(request: Request, write: Writer) -> bool:
        raw = chunked(200, parts, "X-Inngest-SDK: py", "X-Long-Name-Of-A-Header: some value")
        for i in range(0, len(raw), 7):  # headers and chunk sizes cut anywhere
            await write(raw[i : i + 7])
        return True

    app = await serve(in_pieces)
    for _ in range(2):
        status, headers, body = await pool.post(app.target, b"{}", {})
        assert (status, body) == (200, b"".join(parts))
        assert headers["x-long-name-of-a-header"] == "some value"
        assert headers["transfer-encoding"] == "chunked"
    assert app.connections == 1


async def test_an_answer_without_a_length_runs_to_the_end_of_the_connection(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    async def until_close(request: Request, write: Writer) -> bool:
        await write(b"HTTP/1.0 200 OK\r\nX-Inngest-SDK: py\r\n\r\n" + b"y" * 70_000)
        return False

    app = await serve(until_close)
    status, _, body = await pool.post(app.target, b"{}", {})
    assert (status, body) == (200, b"y" * 70_000)
    assert pool.connections == 0


async def test_a_201_keeps_a_long_call_going_with_spaces_then_sends_its_body(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    envelope = json.dumps({"status": 200, "body": "done"}).encode()

    async def stream(request: Request, write: Writer) -> bool:
        await write(b"HTTP/1.1 201 X\r\nX-Inngest-SDK: py\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(6):  # 0.6 s in all: twice the read timeout, never 0.3 s without a byte
            await asyncio.sleep(0.1)
            await write(b"1\r\n \r\n")
        await write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(envelope), envelope))
        return True

    app = await serve(stream)
    pool = WirePool(asyncio.get_running_loop(), read_timeout_s=0.3)
    try:
        status, _, body = await pool.post(app.target, b"{}", {})
    finally:
        await pool.aclose()
    assert (status, body) == (201, b" " * 6 + envelope)


async def test_an_answer_that_stops_coming_times_out_per_chunk(
    serve: Callable[[Script], Awaitable[Server]],
) -> None:
    async def stall_after_spaces(request: Request, write: Writer) -> bool:
        await write(b"HTTP/1.1 201 X\r\nX-Inngest-SDK: py\r\nTransfer-Encoding: chunked\r\n\r\n")
        await write(b"1\r\n \r\n")
        assert await request.until_hung_up() == b""
        return False

    app = await serve(stall_after_spaces)
    pool = WirePool(asyncio.get_running_loop(), read_timeout_s=0.3)
    try:
        with pytest.raises(TransportError) as failed:
            await pool.post(app.target, b"{}", {})
        assert pool.connections == 0
    finally:
        await pool.aclose()
    assert failed.value.kind == "SocketTimeoutError"
    assert str(failed.value) == "Timeout on reading data from socket"
    await eventually(lambda: app.closed == 1, what="the timed-out connection closed")


async def test_bodies_of_several_megabytes_go_and_come_whole(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    big = json.dumps({"blob": "x" * 3_000_000}).encode()

    async def echo(request: Request, write: Writer) -> bool:
        if request.on_connection == 1:
            await write(reply(200, request.body[::-1]))
        else:
            step = 65536
            await write(
                chunked(200, [request.body[i : i + step] for i in range(0, len(big), step)])
            )
        return True

    app = await serve(echo)
    assert (await pool.post(app.target, big, {}))[2] == big[::-1]  # Content-Length
    assert (await pool.post(app.target, big, {}))[2] == big  # chunked
    assert app.connections == 1


async def test_a_refused_port_is_a_connector_error(unused_tcp_port: int, pool: WirePool) -> None:
    target = wire_target(f"http://127.0.0.1:{unused_tcp_port}/api/inngest")
    assert target is not None
    with pytest.raises(TransportError) as failed:
        await pool.post(target, b"{}", {})
    assert failed.value.kind == "ClientConnectorError"
    assert f"Cannot connect to host 127.0.0.1:{unused_tcp_port}" in str(failed.value)
    assert pool.connections == 0


async def test_a_connection_that_is_never_accepted_times_out() -> None:
    # A listener that never accepts, its backlog full: the kernel drops further SYNs.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers: list[socket.socket] = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            fillers.append(filler)
            with suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
        target = wire_target(f"http://127.0.0.1:{port}/")
        assert target is not None
        pool = WirePool(asyncio.get_running_loop(), connect_timeout_s=0.3)
        try:
            with pytest.raises(TransportError) as failed:
                await pool.post(target, b"{}", {})
        finally:
            await pool.aclose()
        assert failed.value.kind == "ConnectionTimeoutError"
        assert pool.connections == 0
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        pytest.param(b"NOT HTTP AT ALL\r\n\r\n", "ClientResponseError", id="garbage"),
        pytest.param(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
            "ClientResponseError",
            id="an upgrade",
        ),
        pytest.param(b"HTTP/1.1 200 OK\r\nX-A: b\r\n", "ServerDisconnectedError", id="no head end"),
    ],
)
async def test_a_broken_answer_is_a_transport_error(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool, answer: bytes, kind: str
) -> None:
    async def broken(request: Request, write: Writer) -> bool:
        await write(answer)
        return False

    app = await serve(broken)
    with pytest.raises(TransportError) as failed:
        await pool.post(app.target, b"{}", {})
    assert failed.value.kind == kind
    assert pool.connections == 0


async def test_an_interim_100_is_passed_over(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    async def continue_then_answer(request: Request, write: Writer) -> bool:
        await write(b"HTTP/1.1 100 Continue\r\n\r\n" + reply(200, b"null", "X-Inngest-SDK: py"))
        return True

    app = await serve(continue_then_answer)
    status, headers, body = await pool.post(app.target, b"{}", {})
    assert (status, headers["x-inngest-sdk"], body) == (200, "py", b"null")


async def test_bytes_after_the_answer_spoil_the_connection(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    async def answer_twice(request: Request, write: Writer) -> bool:
        await write(reply(200, b"1") + reply(200, b"2"))
        return True

    app = await serve(answer_twice)
    assert (await pool.post(app.target, b"{}", {}))[2] == b"1"
    assert (await pool.post(app.target, b"{}", {}))[2] == b"1"
    assert app.connections == 2


async def test_a_cancelled_call_gives_its_connection_up(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    arrived = asyncio.Event()

    async def stall(request: Request, write: Writer) -> bool:
        arrived.set()
        assert await request.until_hung_up() == b""
        return False

    app = await serve(stall)
    call = asyncio.create_task(pool.post(app.target, b"{}", {}))
    await asyncio.wait_for(arrived.wait(), 10)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert pool.connections == 0
    await eventually(lambda: app.closed == 1, what="the connection closed")


async def test_a_header_with_a_newline_is_refused_before_anything_is_sent(
    serve: Callable[[Script], Awaitable[Server]], pool: WirePool
) -> None:
    app = await serve(ok)
    with pytest.raises(ValueError, match="newline"):
        await pool.post(app.target, b"{}", {"X-Step": "a\r\nX-Injected: 1"})
    assert app.connections == 0


# -- against uvicorn, and through AppTransport -------------------------------------------------


async def uvicorn_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Echoes the body; ``/stream`` answers as an SDK streams a 201 (chunked, spaces first)."""
    if scope["type"] != "http":
        return
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    headers = [(b"x-inngest-sdk", b"py"), (b"x-seen", b"a"), (b"x-seen", b"b")]
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        for _ in range(3):
            await send({"type": "http.response.body", "body": b" ", "more_body": True})
        await send({"type": "http.response.body", "body": body})
        return
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def uvicorn_serving(keep_alive_s: float = 5.0) -> AbstractAsyncContextManager[str]:
    # A float works for timeout_keep_alive, though uvicorn's type says int.
    return serving(uvicorn_app, http="httptools", timeout_keep_alive=keep_alive_s)


async def test_uvicorn_answers_plain_and_streamed_calls_on_one_connection() -> None:
    transport = AppTransport(request_timeout_s=30)
    big = b"z" * (2 << 20)
    async with uvicorn_serving() as origin:
        try:
            for _ in range(3):
                status, headers, body = await transport.post(f"{origin}/api?x=1", b"{}", {})
                assert (status, headers["x-seen"], body) == (200, "a, b", b"{}")
                status, headers, body = await transport.post(f"{origin}/stream", big, {})
                assert (status, headers["transfer-encoding"], body) == (
                    201,
                    "chunked",
                    b"   " + big,
                )
            pool = transport._pool
            assert pool is not None  # the lean client carried the calls
            assert pool.connections == 1
        finally:
            await transport.aclose()


async def test_a_connection_uvicorn_closed_after_its_keepalive_does_not_fail_a_call() -> None:
    transport = AppTransport(request_timeout_s=30)
    async with uvicorn_serving(keep_alive_s=0.2) as origin:
        try:
            assert (await transport.post(f"{origin}/api", b"1", {}))[2] == b"1"
            pool = transport._pool
            assert pool is not None
            await eventually(lambda: pool.connections == 0, what="uvicorn closed the connection")
            assert (await transport.post(f"{origin}/api", b"2", {}))[2] == b"2"
        finally:
            await transport.aclose()
