"""The workers connected to this process, and the requests they hold.

A *link* is one open WebSocket of a worker (``stepwell.server.connect_gateway`` runs it). A
request sent over a link is held under a *lease*: the worker extends it while the function runs;
a request whose lease runs out (the worker died, or lost its socket and did not come back in
time) is *lost*, and the driver sends it again, to whichever worker can take it. A request the
worker never acknowledged is lost as soon as its link closes. A worker that reconnects keeps its
requests: their acks, lease extensions and replies are matched by request id, whatever socket
they come over (and replies may even come over HTTP, ``/v0/connect/flush``).

Dispatch picks, among the ready links serving the function (not paused, under their worker's
concurrency limit), the one with the fewest requests in flight, the least used first on a tie,
so that several workers share the load.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from stepwell.core.ids import new_ulid
from stepwell.protocol.connect_wire import Reply

Send = Callable[[bytes], Awaitable[None]]


@dataclass(eq=False)
class Link:
    """One worker's open connection."""

    conn_id: str
    instance_id: str
    send: Send
    apps: dict[str, str]
    """App name → the app's id (as the catalog knows it)."""
    slugs: dict[str, str]
    """Function slug (``app-fn``) → the name of the app that serves it."""
    capacity: int = 0
    """At most this many requests at once (the worker's ``max_worker_concurrency``); 0: any."""
    sdk: str = ""
    connected_at_ms: int = 0
    ready: bool = False
    draining: bool = False
    closed: bool = False
    in_flight: set[str] = field(default_factory=set)
    sent: int = 0
    last_seen: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def status(self) -> str:
        if self.closed:
            return "DISCONNECTED"
        if self.draining:
            return "DRAINING"
        return "READY" if self.ready else "CONNECTED"

    def available(self, slug: str) -> bool:
        return (
            self.ready
            and not self.draining
            and not self.closed
            and slug in self.slugs
            and (self.capacity <= 0 or len(self.in_flight) < self.capacity)
        )

    async def deliver(self, data: bytes) -> None:
        """Send one frame; frames from several tasks never interleave."""
        async with self.lock:
            await self.send(data)


@dataclass(eq=False)
class Pending:
    """A request sent to a worker, until its reply comes or its lease runs out."""

    request_id: str
    slug: str
    link: Link
    lease_id: str
    lease_until: float
    reply: asyncio.Future[Reply | None]
    acked: bool = False


class Hub:
    def __init__(
        self, *, lease_s: float = 20.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lease_s = lease_s
        self._clock = clock
        self._links: dict[str, Link] = {}
        self._pending: dict[str, Pending] = {}
        self._changed = asyncio.Event()

    # -- links -----------------------------------------------------------------------------------

    def links(self) -> list[Link]:
        return list(self._links.values())

    def serves(self, slug: str) -> bool:
        return any(slug in link.slugs and not link.closed for link in self._links.values())

    def add(self, link: Link) -> None:
        """A worker connected. One reconnecting with a connection id still open takes over that
        connection's requests; the old socket is forgotten."""
        old = self._links.get(link.conn_id)
        if old is not None and old is not link:
            old.closed = True
            for request_id in old.in_flight:
                pending = self._pending.get(request_id)
                if pending is not None:
                    pending.link = link
                    link.in_flight.add(request_id)
            old.in_flight.clear()
        self._links[link.conn_id] = link
        self._notify()

    def make_ready(self, link: Link) -> None:
        link.ready = True
        self._notify()

    def pause(self, link: Link) -> None:
        """The worker is draining: it finishes what it holds and gets nothing new."""
        link.draining = True
        self._notify()

    def remove(self, link: Link) -> None:
        """The link closed. Requests it never acknowledged are lost now; acknowledged ones keep
        their lease (the worker may come back on another socket and reply)."""
        link.closed = True
        if self._links.get(link.conn_id) is link:
            del self._links[link.conn_id]
        for request_id in list(link.in_flight):
            pending = self._pending.get(request_id)
            if pending is not None and not pending.acked:
                self._lose(pending)
        self._notify()

    async def pick(self, slug: str, timeout_s: float) -> Link | None:
        """A link that can take a request for ``slug``, waiting up to ``timeout_s`` for one."""
        deadline = self._clock() + timeout_s
        while True:
            changed = self._changed
            candidates = [link for link in self._links.values() if link.available(slug)]
            if candidates:
                return min(candidates, key=lambda link: (len(link.in_flight), link.sent))
            remaining = deadline - self._clock()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except TimeoutError:
                return None

    # -- requests --------------------------------------------------------------------------------

    def open(self, link: Link, slug: str) -> Pending:
        loop = asyncio.get_running_loop()
        pending = Pending(
            request_id=new_ulid(),
            slug=slug,
            link=link,
            lease_id=new_ulid(),
            lease_until=self._clock() + self.lease_s,
            reply=loop.create_future(),
        )
        self._pending[pending.request_id] = pending
        link.in_flight.add(pending.request_id)
        link.sent += 1
        return pending

    def acknowledge(self, request_id: str, link: Link) -> bool:
        pending = self._pending.get(request_id)
        if pending is None:
            return False
        pending.acked = True
        self._move(pending, link)
        return True

    def extend(self, request_id: str, lease_id: str, link: Link) -> str | None:
        """A new lease for a request still held under ``lease_id``; None when the request is
        unknown (answered, or lost and sent elsewhere) or the lease is not the current one."""
        pending = self._pending.get(request_id)
        if pending is None or pending.lease_id != lease_id or pending.reply.done():
            return None
        pending.acked = True
        pending.lease_id = new_ulid()
        pending.lease_until = self._clock() + self.lease_s
        self._move(pending, link)
        return pending.lease_id

    def answer(self, reply: Reply) -> bool:
        """A worker's reply; False when no request of that id is waiting (already answered,
        or lost): it is then dropped."""
        pending = self._pending.pop(reply.request_id, None)
        if pending is None:
            return False
        pending.link.in_flight.discard(pending.request_id)
        if not pending.reply.done():
            pending.reply.set_result(reply)
        self._notify()
        return True

    async def wait(self, pending: Pending) -> Reply | None:
        """The reply, or None when the request was lost (its lease ran out, or it was never
        acknowledged before its link closed)."""
        try:
            while not pending.reply.done():
                remaining = pending.lease_until - self._clock()
                if remaining <= 0:
                    self._lose(pending)
                    break
                await asyncio.wait([pending.reply], timeout=remaining)
            return pending.reply.result()
        finally:
            if not pending.reply.done():  # cancelled (the engine stops): forget it
                self._lose(pending)

    def forget(self, pending: Pending) -> None:
        """A request that could not be sent."""
        self._lose(pending)

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "connection_id": link.conn_id,
                "instance_id": link.instance_id,
                "status": link.status,
                "apps": sorted(link.apps),
                "functions": sorted(link.slugs),
                "sdk": link.sdk,
                "in_flight": len(link.in_flight),
                "requests_sent": link.sent,
                "max_worker_concurrency": link.capacity or None,
                "connected_at": link.connected_at_ms,
                "seconds_since_last_message": round(time.monotonic() - link.last_seen, 3),
            }
            for link in self._links.values()
        ]

    # -- internals -------------------------------------------------------------------------------

    def _move(self, pending: Pending, link: Link) -> None:
        if pending.link is not link:
            pending.link.in_flight.discard(pending.request_id)
            pending.link = link
            link.in_flight.add(pending.request_id)

    def _lose(self, pending: Pending) -> None:
        if self._pending.get(pending.request_id) is pending:
            del self._pending[pending.request_id]
        pending.link.in_flight.discard(pending.request_id)
        if not pending.reply.done():
            pending.reply.set_result(None)
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
