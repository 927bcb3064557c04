"""Checkpointing a call's steps while it runs on (protocol.md §5.11, as the TS SDK does).

Without it a call runs one new step and answers with its op; the server stores it and calls
again. With it, each finished ``step.run`` is handed to a ``Checkpointer`` and the function
goes on at once: the checkpointer posts the results to the server's
``POST /v1/checkpoint/{run}/async`` in the background, one request at a time. A result waits
up to ``FLUSH_AFTER_S`` for the ones that follow it, and each request carries every result
that finished meanwhile, so fast steps travel in batches. Without that wait each fast step
went alone once the app was busy: with 20 calls at once the requests' own cost (about 0.7 ms
of the app's CPU each) slowed the steps, which then sent one request each, and the app stayed
saturated (bench/PROFILE.md, "Why the 20-run figures swung"). The call ends where the server
must act (a sleep, a wait, parallel steps, the function's result); before it answers, every
result still waiting is sent at once, and every batch has been acknowledged or given up on.

What the server did not acknowledge is never lost: it is answered in the call's response, as
it would have been without checkpointing (``drain`` returns it), and the server stores each
step once whichever way it came. Once a batch fails (the server refused it, answered ``409``
because this call is no longer the run's current one, or could not be reached after a few
tries), the checkpointer stops accepting: the next step ends the call as before. A crash of
the app loses only the steps not yet acknowledged; the next call runs them again, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stepwell.core import json_values
from stepwell.protocol.ops import Op
from stepwell.sdk.serve.client import ApiClient, ApiError, CheckpointHttp

log = logging.getLogger("stepwell.serve")

SEND_ATTEMPTS = 5
BACKOFF_S = 0.1
"""Between tries of one batch: 0.1 s, doubling, with jitter (the TS SDK's schedule)."""
TIMEOUT_S = 10.0
FLUSH_AFTER_S = 0.02
"""How long a finished step may wait for later ones before it is sent: a crash loses at most
this much finished work beyond the batch on its way, and a call makes at most ~50 requests a
second however fast its steps are."""
MAX_BACKLOG = 256
"""Steps waiting to be sent past which a new result is sent at once, and while that many wait
behind the batch on its way, a new one waits too: at most twice this many steps are ever
unacknowledged. (A full backlog with no batch on its way goes out and the function goes on:
it used to wait for that batch's answer too, ~8-12 ms of every 500-step call.)"""
MAX_BATCH_BYTES = 8 * 1024 * 1024
"""A batch's steps as JSON stay under this (the route takes 16 MiB); one larger step goes alone."""
MAX_RUNTIME_S = 10.0
"""How long a call keeps checkpointing (the TS SDK's ``maxRuntime``): past it the next step
ends the call, so that no single HTTP request runs on indefinitely."""


@dataclass(frozen=True, slots=True)
class CallIds:
    """What the server needs to tie a batch to the call in progress (from the call's ``ctx``)."""

    run_id: str
    fn_id: str
    qi_id: str
    request_id: str | None


class Checkpointer:
    def __init__(
        self,
        client: ApiClient,
        ids: CallIds,
        *,
        max_runtime_s: float = MAX_RUNTIME_S,
        clock: Callable[[], float] = time.monotonic,
        caller_gone: Callable[[], bool] | None = None,
    ) -> None:
        self._client = client
        self._caller_gone = caller_gone or (lambda: False)
        self._ids = ids
        self._clock = clock
        self._started_ms = int(time.time() * 1000)
        self._deadline = clock() + max_runtime_s
        self._pending: list[Op] = []  # not sent yet, in the order the steps ended
        self._pending_since = 0.0  # when the oldest of them ended (self._clock)
        self._now = asyncio.Event()  # send what is pending without waiting (drain, backlog)
        self._draining = False
        self._sending: list[Op] = []  # the batch on its way
        self._task: asyncio.Task[None] | None = None
        self._progress = asyncio.Event()
        self._http: CheckpointHttp | None = None
        self._owns_http = False  # a client of this call's own, closed with it
        self._healthy = True
        self._retrying = False  # the batch on its way failed once: hold new steps meanwhile
        self.acknowledged = 0
        self.batches = 0

    @property
    def accepting(self) -> bool:
        """Whether a new result may be checkpointed (else it is answered in the response).

        Not once the server that made the call hung up (killed, say): another one will call
        again, and every step run ahead meanwhile would run twice."""
        return self._healthy and self._clock() < self._deadline and not self._caller_gone()

    async def add(self, op: Op) -> None:
        """Queue a finished step's result; returns at once unless the backlog is full."""
        if not self._pending:
            self._pending_since = self._clock()
        self._pending.append(op)
        if self._task is None:
            self._task = asyncio.ensure_future(self._flush())
        if len(self._pending) >= MAX_BACKLOG:
            self._now.set()
        # Run ahead of the server only while it keeps up: not past a full backlog, nor while
        # it is failing (a step run then would likely have to run again).
        while self._task is not None and (len(self._pending) >= MAX_BACKLOG or self._retrying):
            self._progress.clear()
            await self._progress.wait()

    async def drain(self) -> list[Op]:
        """Wait for the batches under way; return the results the server did not take."""
        self._draining = True
        self._now.set()  # what is pending goes now: the call is about to answer
        try:
            while self._task is not None:
                await asyncio.shield(self._task)
        finally:
            await self.close()
        unacknowledged = self._sending + self._pending
        self._sending, self._pending = [], []
        return unacknowledged

    async def close(self) -> None:
        """Stop sending (a call cancelled midway) and release the connection."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        http, self._http = self._http, None
        if http is not None and self._owns_http:
            await http.aclose()

    # -- the background sender --------------------------------------------------------------------

    async def _flush(self) -> None:
        try:
            while self._pending and self._healthy:
                await self._wait_for_more()
                self._sending = self._take_batch()
                if not self._draining and len(self._pending) < MAX_BACKLOG:
                    self._now.clear()  # what finishes from now on waits its own turn
                self._progress.set()  # the backlog went out: a step it held goes on
                body = self._body(self._sending)
                if not await self._deliver(body):
                    self._healthy = False  # the batch stays in _sending: answered instead
                    return
                self._retrying = False
                self.acknowledged += len(self._sending)
                self.batches += 1
                self._sending = []
                self._progress.set()
        except Exception:  # a bug of ours: fall back rather than lose the results
            log.exception("checkpointing run %s failed", self._ids.run_id)
            self._healthy = False
        finally:
            self._task = None
            self._retrying = False
            self._progress.set()

    async def _wait_for_more(self) -> None:
        """Let later steps join the oldest pending one, for up to ``FLUSH_AFTER_S``."""
        delay = self._pending_since + FLUSH_AFTER_S - self._clock()
        if delay > 0 and not self._now.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._now.wait(), delay)

    def _take_batch(self) -> list[Op]:
        size = 0
        count = 0
        for op in self._pending:
            size += len(op.encoded_data or "") + 256
            if count and size > MAX_BATCH_BYTES:
                break
            count += 1
        batch, self._pending = self._pending[:count], self._pending[count:]
        return batch

    def _body(self, ops: list[Op]) -> bytes:
        ids = self._ids
        body: dict[str, Any] = {
            "run_id": ids.run_id,
            "fn_id": ids.fn_id,
            "qi_id": ids.qi_id,
            "request_id": ids.request_id,
            "request_started_at": self._started_ms,
            "steps": [op.to_wire() for op in ops],
            "ts": int(time.time() * 1000),
        }
        return json_values.dumps_wire(body)  # the steps' data were checked as they ended

    async def _deliver(self, body: bytes) -> bool:
        """Post one batch, trying again while the server cannot be reached or fails; False
        when it was not taken (refused, stale, or still failing after the last try)."""
        if self._http is None:
            self._http, self._owns_http = await self._client.checkpoint_http(TIMEOUT_S)
        run_id = self._ids.run_id
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                self._retrying = True
                await asyncio.sleep(BACKOFF_S * 2 ** (attempt - 1) * (1 + random.random()))
            try:
                status = await self._client.checkpoint_steps(self._http, run_id, body)
            except ApiError as exc:
                log.debug("checkpoint of run %s: %s", run_id, exc)
                continue
            if status < 300:
                return True
            if status == 409:
                log.info("run %s: this call is no longer the run's current one", run_id)
                return False
            if status < 500:
                log.warning("run %s: the server refused a checkpoint (%d)", run_id, status)
                return False
        log.warning("run %s: checkpointing failed; answering the steps instead", run_id)
        return False
