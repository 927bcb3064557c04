"""The one write path: build a plan, commit it, re-plan on a lost race, hand on what follows.

Every engine decision goes through ``Committer.commit``. A builder reads fresh state and fills a
plan; the events the plan emits (system events, invocations) are planned into the same commit;
a ``StoreConflict`` means another writer moved first, so the plan is built again from scratch.
Once committed, work leased to this process goes straight to the hand-off (no poll), and timers
others may claim wake the poller no later than they are due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import replace
from typing import Protocol

from stepwell.engine.crossings import Crossings, Waiting
from stepwell.engine.defers import plan_deferred_starts
from stepwell.engine.plan import FreshRun, Plan, PlanBuilder
from stepwell.ports.clock import Clock
from stepwell.ports.records import CommitResult, QueueItem, StoredEvent
from stepwell.ports.store import EngineStore, StoreConflict
from stepwell.ports.telemetry import NO_TELEMETRY, Telemetry

CONFLICT_RETRIES = 5

log = logging.getLogger("stepwell.engine")


class Handoff(Protocol):
    """Where committed work goes to run in this process (the dispatcher)."""

    def submit(self, item: QueueItem, fresh: FreshRun | None = None) -> None: ...

    def wake_at(self, due_ms: int) -> None: ...


class EventPlanner(Protocol):
    async def plan_events(self, stored: list[StoredEvent], plan: Plan, now_ms: int) -> None: ...

    async def resume_crossed(
        self, pairs: list[tuple[StoredEvent, Waiting]], plan: Plan, now_ms: int
    ) -> None: ...


class Committer:
    def __init__(
        self,
        *,
        store: EngineStore,
        planner: EventPlanner,
        clock: Clock,
        handoff: Handoff,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.telemetry = telemetry
        """Told of every commit (and, through the committer, of executions)."""
        self._store = store
        self._planner = planner
        self._clock = clock
        self._handoff = handoff
        self._runs_ended = asyncio.Event()
        self._crossings = Crossings()

    @property
    def runs_ended(self) -> asyncio.Event:
        """Set (and replaced) each time a commit ends runs: a cheap wake-up for waiters."""
        return self._runs_ended

    async def commit(self, build: PlanBuilder) -> None:
        """Build, commit and act on a plan; re-plan from fresh state on a lost race. Raises
        ``StoreConflict`` if it keeps losing, and whatever the builder raises."""
        for attempt in range(CONFLICT_RETRIES):
            mark = self._crossings.mark()
            plan = await build()
            if plan.ended_runs:
                # What the ending runs deferred starts with their end, in this commit.
                await plan_deferred_starts(self._store, plan, self._clock.now_ms())
            if plan.follow_events:
                await self._planner.plan_events(plan.follow_events, plan, self._clock.now_ms())
            if not plan.changes:
                return
            early = plan.early_starts()
            readying = _Readying(self._handoff, plan, early) if early else None
            queued = (
                None
                if readying is None
                else self._store.commit_in_order(plan.changes, readying.hand_over)
            )
            try:
                if readying is None or queued is None:
                    early = []
                    result = await self._store.commit(plan.changes)
                else:
                    result = await readying.landing(queued)
            except StoreConflict:
                if attempt == CONFLICT_RETRIES - 1:
                    raise
                continue
            self.telemetry.committed(plan.changes, plan.endings, result.skipped_runs)
            self._hand_on(plan, result.skipped_runs, started=early)
            try:
                await self._match_crossed(plan, mark)
            except Exception:  # this commit stands: its caller must not see it as failed
                log.exception("resuming a wait that crossed an event failed")
            return

    async def _match_crossed(self, plan: Plan, mark: int) -> None:
        """Resume what this plan's events and another's waits planned at once could not see
        of each other (``engine.crossings``); then log what it stored."""
        crossings = self._crossings
        pairs = crossings.pauses_missed(plan.changes, mark)
        late = crossings.events_missed(plan.looked_back, mark)
        crossings.record(plan.changes)
        if not pairs and not late:
            return
        if late:
            found = {e.internal_id: e for e in await self._store.get_events([i for i, _ in late])}
            pairs += [(found[i], pause) for i, pause in late if i in found]

        async def resume() -> Plan:
            crossed = Plan()
            await self._planner.resume_crossed(pairs, crossed, self._clock.now_ms())
            return crossed

        await self.commit(resume)

    def _hand_on(self, plan: Plan, skipped_runs: set[str], started: list[QueueItem]) -> None:
        changes = plan.changes
        puts = [put.item for put in changes.items_put if not put.delete]
        for item in (*changes.items, *changes.items_rescheduled, *puts):
            if item.lease_owner is None:
                self._handoff.wake_at(item.due_at)
        for item in plan.to_dispatch:
            if item.run_id not in skipped_runs and item not in started:
                self._handoff.submit(item, plan.fresh_run(item))
        if plan.ended_runs:
            ended, self._runs_ended = self._runs_ended, asyncio.Event()
            ended.set()


class _Readying:
    """The runs a send creates, got ready to execute while its commit is made durable (event
    to first step): handed to the dispatcher once the store says the commit is under way
    (``commit_in_order``'s ``committing``, when the writer thread holds no GIL), or once it
    landed if the store never said; each calls its function only once told it landed."""

    __slots__ = ("_early", "_handed", "_handoff", "_landed", "_plan")

    def __init__(self, handoff: Handoff, plan: Plan, early: list[QueueItem]) -> None:
        self._handoff = handoff
        self._plan = plan
        self._early = early
        self._landed: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._handed = False

    def hand_over(self) -> None:
        if self._handed or self._landed.done():
            return
        self._handed = True
        for item in self._early:
            fresh = self._plan.fresh_run(item)
            assert fresh is not None  # early_starts takes plans that store no steps
            self._handoff.submit(item, replace(fresh, landed=self._landed))

    async def landing(self, queued: Awaitable[CommitResult]) -> CommitResult:
        try:
            result = await queued
        except BaseException:
            self._landed.set_result(False)  # runs handed over end without calling anything
            raise
        self.hand_over()
        self._landed.set_result(True)
        # One turn for the runs told so: they reach their function before this send's
        # caller goes on (often to read what it sent, on this same loop).
        await asyncio.sleep(0)
        return result
