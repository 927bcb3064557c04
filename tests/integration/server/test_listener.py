"""The server's HTTP protocol (``stepwell.server.listener``, whose writes leave at the end of
the loop's turn) over real loopback connections: a connection's answers, kept alive, closed
or pipelined, arrive whole and in order. That head and body leave as one write is checked
in tests/unit/server/test_coalesced_writes.py (loopback timing would not show it)."""

from __future__ import annotations

import asyncio
import json

from tests.integration.server.harness import Server

REQUEST = (
    b"POST /e/key HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 15\r\n\r\n{"name": "a/b"}'
)


def complete(answer: bytes) -> bool:
    head, sep, body = answer.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return len(body) == length


async def test_keep_alive_answers_arrive_whole(server: Server) -> None:
    url = server.client.base_url
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        for _ in range(20):
            writer.write(REQUEST)
            await writer.drain()
            answer = await asyncio.wait_for(reader.readuntil(b"}"), 10.0)
            assert answer.startswith(b"HTTP/1.1 200 "), answer
            assert complete(answer), answer
            assert len(json.loads(answer.partition(b"\r\n\r\n")[2])["ids"]) == 1
    finally:
        writer.close()


async def test_an_answer_before_close_is_sent_before_the_close(server: Server) -> None:
    url = server.client.base_url
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(REQUEST.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n"))
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10.0)  # up to the server's FIN
        assert answer.startswith(b"HTTP/1.1 200 "), answer
        assert complete(answer), answer
    finally:
        writer.close()


async def test_pipelined_requests_are_answered_in_order(server: Server) -> None:
    url = server.client.base_url
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(REQUEST + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" + REQUEST)
        await writer.drain()
        statuses = []
        for _ in range(3):
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10.0)
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await asyncio.wait_for(reader.readexactly(length), 10.0)
            statuses.append((head.split(b" ")[1], b"ids" in body))
        assert statuses == [(b"200", True), (b"200", False), (b"200", True)]
    finally:
        writer.close()


async def _exchange(server: Server, request: bytes) -> bytes:
    url = server.client.base_url
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10.0)  # Connection: close: up to the FIN
    finally:
        writer.close()


def _chunked(body: bytes) -> bytes:
    return b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)


def _without_date_and_ids(answer: bytes) -> bytes:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]
    shape = json.loads(body)
    shape["ids"] = len(shape["ids"])
    return b"\r\n".join(lines) + b"\r\n\r\n" + json.dumps(shape).encode()


async def test_direct_answers_are_uvicorns_byte_for_byte(server: Server) -> None:
    """``POST /e/{key}`` with a whole body is answered by the protocol itself
    (``server.direct_route``); a chunked one still goes through uvicorn and the ASGI app.
    Both give the same answer, head and body, for an accepted send and for refusals."""
    head = b"POST /e/key HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    for body in (b'{"name": "a/b"}', b'[{"name": "a/b"}, {"name": "c/d"}]', b"[1]", b"{nope"):
        direct = await _exchange(server, head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        routed = await _exchange(server, head + _chunked(body))
        assert _without_date_and_ids(direct) == _without_date_and_ids(routed), body
        assert b"x-inngest-server-kind: dev\r\n" in direct


def test_the_direct_route_is_on_with_the_locked_uvicorn() -> None:
    """The byte-for-byte test above compares two paths only if the direct one is taken: it
    is, with the uvicorn release requirements.lock pins, and off under any other."""
    import uvicorn

    from stepwell.server.listener import DIRECT_ROUTE_UVICORN, uvicorn_config

    class WithRoute:
        direct_route = object()

    config = uvicorn_config(WithRoute())  # type: ignore[arg-type]
    expected = uvicorn.__version__.startswith(DIRECT_ROUTE_UVICORN)
    assert expected, f"uvicorn {uvicorn.__version__}: check server/direct_route.py against it"
    assert config.direct_route is WithRoute.direct_route  # type: ignore[attr-defined]
