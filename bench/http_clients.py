"""Client CPU per request of the HTTP clients the HTTP driver could call apps with (issue 15).

    PYTHONPATH=src:. .venv/bin/python -m bench.http_clients [--requests N] [--concurrency C]
        [--rounds R] [--clients httpx,aiohttp,stepwell,lean]

A uvicorn app (httptools, uvloop) in its own process answers each POST of a ~2 KB JSON body
as an SDK would (a 206 with a small JSON array and the SDK's headers). This process runs
each client on uvloop, as ``stepwell dev`` does, and measures its own CPU time (all threads,
``time.process_time``) over N sequential requests and N requests from C concurrent tasks.
Rounds are interleaved and the table gives medians, so every client sees the same background
load. ``stepwell`` is drivers/http_transport.py as the server runs it; ``lean`` is a minimal
keep-alive client of our own (asyncio.Protocol + httptools' response parser), to show how far
a well-kept library is from the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httptools
import httpx

Post = Callable[[bytes, dict[str, str]], Awaitable[tuple[int, bytes]]]

ANSWER = json.dumps(
    [{"op": "StepRun", "id": "a" * 40, "name": "step", "data": {"ok": True, "n": 1}}]
).encode()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An SDK-like answer to every POST."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    headers = [
        (b"content-type", b"application/json"),
        (b"x-inngest-sdk", b"inngest-py:v0.5.19"),
        (b"x-inngest-req-version", b"2"),
        (b"content-length", str(len(ANSWER)).encode()),
    ]
    await send({"type": "http.response.start", "status": 206, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


def serve(port: int) -> None:
    import uvicorn

    uvicorn.run(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def request_body(size: int) -> bytes:
    steps = {f"{i:040x}": {"data": {"value": "x" * 40}} for i in range(size // 110)}
    return json.dumps({"event": {"name": "bench/run", "data": {}}, "steps": steps}).encode()


# -- the clients ---------------------------------------------------------------------------


class _Lean(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: a request written as bytes, the answer parsed by
    httptools as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.done: asyncio.Future[tuple[int, bytes]] | None = None
        self.chunks: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed"))

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        assert self.done is not None
        self.done.set_result((self.parser.get_status_code(), b"".join(self.chunks)))


class LeanClient:
    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.idle: list[_Lean] = []

    async def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        if self.idle:
            conn = self.idle.pop()
        else:
            _, conn = await loop.create_connection(_Lean, self.host, self.port)
        head = f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Length: {len(body)}\r\n\r\n"
        conn.done = loop.create_future()
        conn.chunks = []
        assert conn.transport is not None
        conn.transport.write(head.encode("latin-1") + body)
        answer = await conn.done
        self.idle.append(conn)
        return answer

    async def aclose(self) -> None:
        for conn in self.idle:
            assert conn.transport is not None
            conn.transport.close()


async def make_client(name: str, url: str) -> tuple[Post, Callable[[], Awaitable[None]]]:
    if name == "httpx":
        # As the server makes it (server/runtime.py).
        hx = httpx.AsyncClient(timeout=httpx.Timeout(7200.0, connect=10.0))

        async def post_httpx(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
            response = await hx.post(url, content=body, headers=headers)
            return response.status_code, response.content

        return post_httpx, hx.aclose
    if name == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10.0, sock_read=7200.0)
        )

        async def post_aiohttp(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
            async with session.post(url, data=body, headers=headers) as response:
                return response.status, await response.read()

        return post_aiohttp, session.close
    if name == "stepwell":
        # The HTTP driver's per-step transport, configured as the server uses it.
        from stepwell.drivers.http_transport import AppTransport

        transport = AppTransport()

        async def post_stepwell(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
            status, _headers, content = await transport.post(url, body, headers)
            return status, content

        return post_stepwell, transport.aclose
    if name == "lean":
        parsed = httpx.URL(url)
        lean = LeanClient(parsed.host, parsed.port or 80, parsed.raw_path.decode())
        return lean.post, lean.aclose
    raise SystemExit(f"unknown client {name!r}")


async def measure(
    name: str, url: str, body: bytes, requests: int, concurrency: int
) -> dict[str, float]:
    post, close = await make_client(name, url)
    headers = {
        "Content-Type": "application/json",
        "X-Run-ID": "01JBENCHRUN0000000000000000",
        "x-request-id": "0" * 32,
        "x-inngest-job-id": "01JBENCHITEM000000000000000",
        "x-inngest-req-version": "2",
        "X-Inngest-Step-ID": "step",
        "traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-00",
        "X-Inngest-Signature": "",
    }
    try:
        for _ in range(50):  # connections open, code paths warm
            status, _answer = await post(body, headers)
            assert status == 206, status
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(requests):
            await post(body, headers)
        seq_cpu, seq_wall = time.process_time() - cpu, time.perf_counter() - wall

        async def worker(count: int) -> None:
            for _ in range(count):
                await post(body, headers)

        share = requests // concurrency
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(share) for _ in range(concurrency)))
        con_cpu, con_wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await close()
    done = share * concurrency
    return {
        "seq_cpu_us": seq_cpu / requests * 1e6,
        "seq_rps": requests / seq_wall,
        "con_cpu_us": con_cpu / done * 1e6,
        "con_rps": done / con_wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--body-bytes", type=int, default=2048)
    parser.add_argument("--clients", default="httpx,aiohttp,stepwell,lean")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    import uvloop

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.http_clients", "--serve", str(port)])
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/api/inngest?fnId=bench-fn&stepId=step"
        body = request_body(args.body_bytes)
        names = args.clients.split(",")
        results: dict[str, list[dict[str, float]]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                figures = uvloop.run(measure(name, url, body, args.requests, args.concurrency))
                results[name].append(figures)
        print(
            f"{args.rounds} rounds, {args.requests} requests of {len(body)} bytes, "
            f"{args.concurrency} concurrent; load {os.getloadavg()[0]:.1f}; medians\n"
        )
        print("| client | sequential CPU µs/req | req/s | concurrent CPU µs/req | req/s |")
        print("| --- | --- | --- | --- | --- |")
        for name, rows in results.items():
            med = {key: statistics.median(row[key] for row in rows) for key in rows[0]}
            print(
                f"| {name} | {med['seq_cpu_us']:.0f} | {med['seq_rps']:.0f} "
                f"| {med['con_cpu_us']:.0f} | {med['con_rps']:.0f} |"
            )
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
