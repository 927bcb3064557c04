"""What a durable endpoint streams once its run has gone asynchronous, relayed to its caller.

After the switch, the handler runs in the server's calls to the endpoint, not in the caller's
request. The TS SDK then POSTs what it streams (``stream.push``/``pipe``) to
``/v1/realtime/publish/tee?channel=<run id>`` as a server-sent event body: ``inngest.metadata``,
then ``inngest.stream`` / ``inngest.commit`` / ``inngest.rollback``, and ``inngest.response``
when that call ends the run. The caller, which followed ``inngest.redirect_info`` to
``/v1/realtime/sse?token=``, gets those events as they come (``endpoints_api``).

Kept in this process's memory, bounded: a channel keeps its recent events so that a caller
connecting after the first chunks still gets them, and is forgotten a while after it went
quiet. Not relayed between processes: with several servers on one database, the caller reads
the events the server it asks was sent.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

MAX_EVENTS = 2000
MAX_BYTES = 4 * 1024 * 1024
MAX_PENDING_BYTES = 4 * 1024 * 1024
"""The longest event the tee's parser holds while waiting for its end."""
KEEP_S = 300.0
TEE_CHECK_S = 0.5
TEE_AFTER_END_S = 5.0
"""How long a tee is still read once its run has ended (unless the run's answer has been
published): the SDK leaves the tee of a call that ran a step open (only a call that ends the
run closes its tee), so the run's end closes it here."""
TEE_IDLE_S = 300.0


@dataclass(frozen=True, slots=True)
class SseEvent:
    name: str
    data: str
    """The event's data lines, joined (the SDK's are JSON)."""

    def encode(self) -> bytes:
        lines = "".join(f"data: {line}\n" for line in self.data.split("\n"))
        return f"event: {self.name}\n{lines}\n".encode()


class EventTooLong(ValueError):
    pass


class SseParser:
    """Splits a server-sent event byte stream into events, however it is chunked."""

    def __init__(self) -> None:
        self._pending = ""
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, chunk: bytes, *, final: bool = False) -> list[SseEvent]:
        self._pending += self._decoder.decode(chunk, final)
        text = self._pending.replace("\r\n", "\n")
        *blocks, self._pending = text.split("\n\n")
        if final and self._pending.strip():
            blocks.append(self._pending)
            self._pending = ""
        if len(self._pending) > MAX_PENDING_BYTES:
            raise EventTooLong(f"an event over {MAX_PENDING_BYTES} bytes")
        return [event for block in blocks if (event := _event(block)) is not None]


def _event(block: str) -> SseEvent | None:
    name, data = "message", []
    for line in block.split("\n"):
        if line.startswith(":") or not line:
            continue
        key, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if key == "event":
            name = value
        elif key == "data":
            data.append(value)
    return SseEvent(name, "\n".join(data)) if data or name != "message" else None


@dataclass(slots=True)
class _Channel:
    events: list[SseEvent] = field(default_factory=list)
    first: int = 0
    """The sequence number of ``events[0]`` (older events were dropped)."""
    size: int = 0
    publishers: int = 0
    answered: bool = False
    """An ``inngest.response`` was published: the run's answer is out."""
    touched: float = field(default_factory=time.monotonic)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def end(self) -> int:
        return self.first + len(self.events)


class RunStreams:
    """Channels of streamed events, by run id."""

    def __init__(self) -> None:
        self._channels: dict[str, _Channel] = {}

    def _channel(self, run_id: str) -> _Channel:
        channel = self._channels.get(run_id)
        if channel is None:
            self._forget_quiet()
            channel = self._channels[run_id] = _Channel()
        return channel

    def _forget_quiet(self) -> None:
        horizon = time.monotonic() - KEEP_S
        for run_id, channel in list(self._channels.items()):
            if channel.publishers == 0 and channel.touched < horizon:
                del self._channels[run_id]

    @contextlib.contextmanager
    def publishing(self, run_id: str) -> Iterator[None]:
        """While a tee is open on the run (its caller waits for it before ending)."""
        channel = self._channel(run_id)
        channel.publishers += 1
        try:
            yield
        finally:
            channel.publishers -= 1
            self._wake(channel)

    def publish(self, run_id: str, event: SseEvent) -> None:
        channel = self._channel(run_id)
        channel.events.append(event)
        channel.size += len(event.data)
        channel.answered |= event.name == "inngest.response"
        while len(channel.events) > MAX_EVENTS or channel.size > MAX_BYTES:
            channel.size -= len(channel.events.pop(0).data)
            channel.first += 1
        self._wake(channel)

    def _wake(self, channel: _Channel) -> None:
        channel.touched = time.monotonic()
        channel.changed.set()
        channel.changed = asyncio.Event()

    def read(self, run_id: str, since: int) -> tuple[list[SseEvent], int]:
        """The events from sequence number ``since`` on (those still kept), and the next one."""
        channel = self._channel(run_id)
        start = max(since, channel.first)
        return channel.events[start - channel.first :], channel.end

    def publishers(self, run_id: str) -> int:
        channel = self._channels.get(run_id)
        return 0 if channel is None else channel.publishers

    async def wait(self, run_id: str, timeout_s: float) -> None:
        """Until something is published on the run (or a tee closes), ``timeout_s`` at most."""
        changed = self._channel(run_id).changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await changed.wait()

    async def take_tee(
        self,
        run_id: str,
        body: AsyncIterator[bytes],
        run_ended: Callable[[], Awaitable[bool]],
    ) -> None:
        """Publish the events of a tee's body as they arrive, until it ends, its run has been
        over for ``TEE_AFTER_END_S``, or it has been silent for ``TEE_IDLE_S``."""
        parser = SseParser()
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()

        async def read() -> None:
            try:
                async for chunk in body:
                    chunks.put_nowait(chunk)
            finally:
                chunks.put_nowait(None)  # ended, or the SDK hung up

        reader = asyncio.create_task(read())
        ended_at: float | None = None
        heard_at = time.monotonic()
        try:
            with self.publishing(run_id):
                while True:
                    try:
                        async with asyncio.timeout(TEE_CHECK_S):
                            chunk = await chunks.get()
                    except TimeoutError:
                        now = time.monotonic()
                        if ended_at is None and await run_ended():
                            ended_at = now
                        over = ended_at is not None and (
                            self._channel(run_id).answered or now - ended_at > TEE_AFTER_END_S
                        )
                        if over or now - heard_at > TEE_IDLE_S:
                            return
                        continue
                    heard_at = time.monotonic()
                    for event in parser.feed(chunk or b"", final=chunk is None):
                        self.publish(run_id, event)
                    if chunk is None:
                        return
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
