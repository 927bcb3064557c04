"""Who runs what, when: local hand-off of fresh work, a timer-driven poll for the rest.

Work this process creates is leased to it at creation and handed straight to a task (no
round trip through the database). Sleeps, retries and timeouts are found by a poll that sleeps
until the next known due time, bounded by ``poll_interval``. One run executes at most once at a
time here; further work for a busy run waits its turn, except its timeouts: those end the run
whatever it is doing (waiting for a concurrency slot included), as a cancellation would.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import math
from typing import Protocol

from stepwell.engine.plan import FreshRun
from stepwell.engine.run_timeouts import is_run_timeout
from stepwell.ports.clock import Clock
from stepwell.ports.records import QueueItem
from stepwell.ports.store import EngineStore

log = logging.getLogger("stepwell.engine")

STARTS_PER_TURN = 64


class ItemRunner(Protocol):
    """What runs one item (the executor)."""

    async def run_item(self, handed: QueueItem, fresh: FreshRun | None = None) -> None: ...


class Dispatcher:
    def __init__(
        self,
        *,
        store: EngineStore,
        clock: Clock,
        owner: str,
        lease_ms: int,
        poll_interval_s: float,
    ) -> None:
        self._runner: ItemRunner | None = None
        self._store = store
        self._clock = clock
        self._owner = owner
        self._lease_ms = lease_ms
        self._poll_interval_s = poll_interval_s
        self._active: dict[str, asyncio.Task[None] | None] = {}
        """By run: its execution's task, or None while it waits in ``_starting``."""
        self._starting: collections.deque[tuple[QueueItem, FreshRun | None]] = collections.deque()
        self._active_items: dict[str, str] = {}
        self._waiting: dict[str, dict[str, QueueItem]] = {}
        self._timeouts: dict[str, asyncio.Task[None]] = {}  # by item id
        self._wake = asyncio.Event()
        self._next_wake_ms: int | None = None
        self._asleep_until_ms: float = math.inf
        """When the sleeping poll wakes by itself (infinity while it polls): an earlier
        timer wakes it sooner, a later one needs nothing."""
        self._loops: list[asyncio.Task[None]] = []
        self._stopping = False

    def attach(self, runner: ItemRunner) -> None:
        """Every item, handed over or claimed, is run by ``runner`` (before any is handed)."""
        self._runner = runner

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._poll_loop(), name="stepwell-poll"),
            asyncio.create_task(self._renew_loop(), name="stepwell-lease-renewal"),
        ]

    async def stop(self, grace_s: float) -> None:
        """Stop taking work; give running executions ``grace_s`` to reach a step boundary."""
        self._stopping = True
        for task in self._loops:
            task.cancel()
        for task in self._loops:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._starting.clear()  # not started: they stay queued for the next start
        running = [*(t for t in self._active.values() if t), *self._timeouts.values()]
        if running and grace_s > 0:
            await asyncio.wait(running, timeout=grace_s)
        for task in running:
            task.cancel()
        for task in running:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def submit(self, item: QueueItem, fresh: FreshRun | None = None) -> None:
        """Run ``item`` here (after the run's current execution, if it has one); ``fresh``:
        the run it starts, as just created by this process."""
        if self._stopping:
            return
        if is_run_timeout(item):
            # Not queued behind the run's execution: that may be waiting for a slot.
            if item.item_id not in self._timeouts:
                self._timeouts[item.item_id] = asyncio.create_task(self._time_out(item))
            return
        if item.run_id in self._active:
            self._waiting.setdefault(item.run_id, {})[item.item_id] = item
            return
        self._active_items[item.run_id] = item.item_id
        self._active[item.run_id] = None
        if not self._starting:
            asyncio.get_running_loop().call_soon(self._start_some)
        self._starting.append((item, fresh))

    def _start_some(self) -> None:
        """Start the executions handed over, ``STARTS_PER_TURN`` per turn of the loop: each
        runs until its first write in the turn after, so a thousand started at once would
        hold everything else on the loop (the next send, an HTTP answer) for that long."""
        for _ in range(min(STARTS_PER_TURN, len(self._starting))):
            item, fresh = self._starting.popleft()
            self._active[item.run_id] = asyncio.create_task(self._execute(item, fresh))
        if self._starting:
            asyncio.get_running_loop().call_soon(self._start_some)

    def wake_at(self, due_ms: int) -> None:
        """Poll no later than ``due_ms`` (a timer this process just created)."""
        if due_ms >= self._asleep_until_ms:
            return  # the poll comes by then anyway, and will see it in the store
        if self._next_wake_ms is None or due_ms < self._next_wake_ms:
            self._next_wake_ms = due_ms
            self._wake.set()

    async def _execute(self, item: QueueItem, fresh: FreshRun | None = None) -> None:
        try:
            await self._run(item, fresh)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "executing %s failed; it will be retried when its lease expires", item.item_id
            )
        finally:
            self._active.pop(item.run_id, None)
            self._active_items.pop(item.run_id, None)
            waiting = self._waiting.get(item.run_id)
            if waiting and not self._stopping:
                _, following = waiting.popitem()
                if not waiting:
                    del self._waiting[item.run_id]
                self.submit(following)

    async def _run(self, item: QueueItem, fresh: FreshRun | None = None) -> None:
        if self._runner is None:
            raise RuntimeError("the dispatcher has no runner attached")
        await self._runner.run_item(item, fresh)

    async def _time_out(self, item: QueueItem) -> None:
        try:
            await self._run(item)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(
                "timing out %s failed; it will be retried when its lease expires", item.item_id
            )
        finally:
            self._timeouts.pop(item.item_id, None)

    async def _poll_loop(self) -> None:
        while True:
            try:
                now = self._clock.now_ms()
                claimed = await self._store.claim_due_items(
                    now_ms=now, owner=self._owner, lease_ms=self._lease_ms, limit=256
                )
                for item in claimed:
                    self.submit(item)
                if len(claimed) == 256:
                    continue
                next_due = await self._store.next_due_at()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("polling for due work failed; trying again")
                next_due = None
            timeout = self._poll_interval_s
            hint = self._next_wake_ms
            for due in (next_due, hint):
                if due is not None:
                    timeout = min(timeout, max(0.0, (due - self._clock.now_ms()) / 1000))
            self._wake.clear()
            self._next_wake_ms = None
            if timeout > 0:
                self._asleep_until_ms = self._clock.now_ms() + timeout * 1000
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow our cancellation.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._wake.wait()
                self._asleep_until_ms = math.inf

    async def _renew_loop(self) -> None:
        period = self._lease_ms / 3000
        while True:
            await asyncio.sleep(period)
            try:
                await self._store.renew_leases(
                    owner=self._owner,
                    item_ids=[*self._active_items.values(), *self._timeouts],
                    until_ms=self._clock.now_ms() + self._lease_ms,
                )
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("renewing leases failed")
