"""Checkpointing ahead: an execution's finished steps committed while the function goes on.

By default an in-process ``step.run`` is committed before the function goes on, so a crash can
run again at most the one step then under way. With checkpointing on (``App.embedded(...,
checkpointing=True)``, as Inngest's SDKs checkpoint), the function goes on at once: the step's
write joins the execution's ``StepBuffer``, which commits one batch at a time and takes into
each batch every step that finished meanwhile. Fast steps then share a commit (and its fsync)
and never wait for the disk between them.

What depends on the stored steps waits for them first (``settle``): sending events or
signals, metadata, deferred work, and the execution's end. An end after which the run goes
on (a sleep, a wait) waits only for the batch on its way, and takes the steps no batch has
taken into its own commit (``close``): one commit fewer.

A crash loses only what was buffered and not yet committed (at most ``MAX_AHEAD`` steps, or
the steps of about one commit): the next execution runs those again, once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

MAX_AHEAD = 64
"""Finished steps not yet committed (buffered or in the batch on its way) past which the
function waits for that batch before it goes on."""

T = TypeVar("T")


class StepBuffer(Generic[T]):
    """One execution's steps on their way to the store, committed in order, a batch at a time."""

    def __init__(
        self,
        commit: Callable[[list[T]], Awaitable[None]],
        *,
        track: Callable[[asyncio.Future[None]], None] | None = None,
        limit: int = MAX_AHEAD,
    ) -> None:
        self._commit = commit
        self._track = track  # told of each flush task, so that shutdown can wait for it
        self._limit = limit
        self._pending: list[T] = []
        self._in_flight = 0  # steps in the batch being committed
        self._starting: asyncio.Handle | None = None  # the flush, due on the loop's next turn
        self._flushing: asyncio.Future[None] | None = None
        self._committed: asyncio.Event | None = None  # set as a batch ends, if one waits
        self._failure: Exception | None = None
        self._closed = False

    @property
    def idle(self) -> bool:
        """Nothing buffered and no batch on its way."""
        return self._flushing is None and not self._pending

    async def add(self, entry: T) -> None:
        """Buffer one finished step; raises what an earlier batch's commit raised."""
        self._raise_failure()
        self._pending.append(entry)
        if self._flushing is None and self._starting is None:
            # Not at once: a function that ends right after this step (to sleep, say)
            # closes the buffer first, and its end's write takes the step (no task made).
            # Two turns on: on its way out an execution yields one turn (for the parallel
            # steps it started to begin), and its close must still find the start pending.
            self._starting = asyncio.get_running_loop().call_soon(self._start_next_turn)
        if len(self._pending) + self._in_flight >= self._limit:
            self._start_now()  # a function that never yields to the loop waits here
            if self._committed is None:
                self._committed = asyncio.Event()
            await self._committed.wait()  # the next batch then takes what is buffered
            self._raise_failure()

    async def settle(self) -> None:
        """Wait until every buffered step is committed; raises what a commit raised."""
        self._start_now()
        await self._flushed()

    async def close(self) -> list[T]:
        """Take no more batches: wait for the one on its way and hand back the steps none has
        taken, for the caller's own commit; raises what a commit raised."""
        self._closed = True
        if self._starting is not None:  # no batch has begun: nothing to wait for
            self._starting.cancel()
            self._starting = None
        await self._flushed()
        rest, self._pending = self._pending, []
        return rest

    async def _flushed(self) -> None:
        """Until no batch is on its way; raises what a commit raised."""
        while self._flushing is not None:
            # Shielded: a caller that stops waiting (cancelled) leaves the batch committing.
            await asyncio.shield(self._flushing)
        self._raise_failure()

    def _start_now(self) -> None:
        if self._starting is not None:
            self._starting.cancel()
            self._start()

    def _start_next_turn(self) -> None:
        self._starting = asyncio.get_running_loop().call_soon(self._start)

    def _start(self) -> None:
        self._starting = None
        if self._closed or not self._pending or self._flushing is not None:
            return
        self._flushing = asyncio.ensure_future(self._flush())
        if self._track is not None:
            self._track(self._flushing)

    async def _flush(self) -> None:
        try:
            while self._pending and not self._closed:
                batch, self._pending = self._pending, []
                self._in_flight = len(batch)
                try:
                    await self._commit(batch)
                finally:
                    self._in_flight = 0
                    if self._committed is not None:
                        self._committed.set()
                        self._committed = None
        except Exception as exc:  # kept for the function's next step, or its end, to raise
            self._failure = exc
            self._pending.clear()
        finally:
            self._flushing = None

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure
