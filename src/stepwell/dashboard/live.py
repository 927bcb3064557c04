"""Server-sent events that tell a page its data changed, so htmx fetches the fragment again.

A stream asks a cheap probe (a fingerprint read on indexes) every ``interval_s`` and sends a
``changed`` event when the answer moves. Every stream is bounded: it ends when the browser
goes, when the probe says the thing watched is over, or after ``max_s`` (the SSE extension
reconnects by itself), so no loop outlives its client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import StreamingResponse

Probe = Callable[[], Awaitable[str | None]]
"""A fingerprint of what the page shows; None: it can no longer change (stop streaming)."""

INTERVAL_S = 0.4
MAX_S = 300.0
HEARTBEAT_S = 15.0


def _message(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


async def _changes(
    request: Request, probe: Probe, interval_s: float, max_s: float
) -> AsyncIterator[str]:
    deadline = time.monotonic() + max_s
    last = await probe()
    beat = time.monotonic()
    yield "retry: 1000\n\n"  # reconnect after a second when a stream ends
    while time.monotonic() < deadline and last is not None:
        await asyncio.sleep(interval_s)
        if await request.is_disconnected():
            return
        now = await probe()
        if now != last:
            last = now
            yield _message("changed", str(time.time()))
        elif time.monotonic() - beat > HEARTBEAT_S:
            beat = time.monotonic()
            yield ": beat\n\n"  # a comment: keeps proxies from closing a quiet stream
    if last is None:
        yield _message("ended", "")


def stream(
    request: Request, probe: Probe, interval_s: float = INTERVAL_S, max_s: float = MAX_S
) -> StreamingResponse:
    return StreamingResponse(
        _changes(request, probe, interval_s, max_s),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
