"""A plan: what one engine decision writes, and what to do locally once it is committed.

A leaf: planning modules fill a plan and return; the committer (``engine.committer``) commits it,
plans its follow-up events in, and hands what it leased to this process to the dispatcher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from stepwell.engine.keys import execute_item_id
from stepwell.ports.records import (
    ChangeSet,
    ItemKind,
    Pause,
    PauseKind,
    QueueItem,
    RunRecord,
    StoredEvent,
)
from stepwell.ports.telemetry import RunEnding

EARLY_START_MAX_RUNS = 8
"""The most runs a plan may create and still ready them while it commits: a send's latency
case. Measured: 1,000-run sends lost half their events/s when their runs started early."""


@dataclass(slots=True)
class Plan:
    """A change set plus what the engine should do locally once it is committed."""

    changes: ChangeSet = field(default_factory=ChangeSet)
    to_dispatch: list[QueueItem] = field(default_factory=list)
    """Execute items leased to this process, to run as soon as the commit returns."""
    follow_events: list[StoredEvent] = field(default_factory=list)
    """Events this plan emits (system events, invocations): planned in before it commits."""
    ended_runs: list[str] = field(default_factory=list)
    endings: list[RunEnding] = field(default_factory=list)
    """The runs this plan ends, as telemetry reports them once it is committed."""
    looked_back: list[Pause] = field(default_factory=list)
    """Event pauses made after a ``lookback`` read found nothing: an event committed since
    that read is matched once this plan is committed (``engine.crossings``)."""
    fresh: dict[str, FreshRun] = field(default_factory=dict)
    """By execute item id: runs this plan creates, as created (what their first execution
    would otherwise read back)."""

    def fresh_run(self, item: QueueItem) -> FreshRun | None:
        """The run ``item`` starts, as this plan creates it, if the plan stores no steps for
        it (a rerun from a step copies some: those are read back)."""
        fresh = self.fresh.get(item.item_id)
        if fresh is None or any(s.run_id == item.run_id for s in self.changes.steps):
            return None
        return fresh

    def early_starts(self) -> list[QueueItem]:
        """Execute items of runs this plan creates whose executions may get ready while its
        commit is being made, on a store that lands it before every later write
        (``commit_in_order``); the function is called once the commit has landed.

        Only for a small plan (a big one's commit holds the writer thread, and the GIL, long
        enough that runs readied beside it cost more than they gain), and only when nothing
        in the plan can lose a race: it inserts and updates nothing that
        was read (so it is never planned again with other run ids), and none of its runs can
        be skipped (no idempotency key): the run it readies is the run it stores. If its
        commit fails all the same (a disk error), the executions end without calling anything.
        """
        changes = self.changes
        if (
            not self.fresh
            or len(self.fresh) > EARLY_START_MAX_RUNS
            or changes.run_updates
            or changes.steps
            or changes.pauses_consumed
            or changes.states
            or changes.items_removed
            or changes.items_put
            or changes.ended_runs
            or changes.items_done
            or changes.items_rescheduled
            or any(new.idempotency_key is not None for new in changes.runs)
            or any(pause.kind is PauseKind.SIGNAL for pause in changes.pauses)
        ):
            return []
        return [item for item in self.to_dispatch if item.item_id in self.fresh]


@dataclass(frozen=True, slots=True)
class FreshRun:
    """A run as this process has just created it: its record and its events, no steps yet.

    Handed on with its execute item so that the first execution reads nothing back (each read
    is a round trip on PostgreSQL); a later change (a cancel) still refuses its first write.
    """

    run: RunRecord
    events: list[StoredEvent]
    landed: asyncio.Future[bool] | None = None
    """For a run started while its plan commits (``Plan.early_starts``): whether that commit
    landed. Its execution gets ready meanwhile; its code runs only once the run is stored."""


PlanBuilder = Callable[[], Awaitable[Plan]]
"""Builds a plan from fresh reads; called again if its commit loses a race."""


def static_plan(fill: Callable[[Plan], object]) -> PlanBuilder:
    """A builder for a plan that needs no reads."""

    async def build() -> Plan:
        plan = Plan()
        fill(plan)
        return plan

    return build


FORCE_PLAN_KEY = "force_plan"
"""In a sleep's item and the execute item its end makes: the next call asks the SDK to plan
steps (``disable_immediate_execution``), as the sleep was part of parallel work."""


def planned(fill: Callable[[Plan], Awaitable[object]]) -> PlanBuilder:
    """A builder for a plan that ``fill`` completes (with reads of its own)."""

    async def build() -> Plan:
        plan = Plan()
        await fill(plan)
        return plan

    return build


@dataclass(frozen=True, slots=True)
class Lease:
    """This process's claim on work it creates: leased at creation, so no poller takes it.

    A process that executes nothing (``owner`` None: a dashboard acting on a shared database)
    leaves new work unleased, for the processes that do.
    """

    owner: str | None
    lease_ms: int

    def execute_item(self, run_id: str, now_ms: int, attempt: int = 0) -> QueueItem:
        """The run's execute item, due now and (if we execute) already leased to us."""
        return QueueItem(
            item_id=execute_item_id(run_id),
            run_id=run_id,
            kind=ItemKind.EXECUTE,
            due_at=now_ms,
            attempt=attempt,
            lease_owner=self.owner,
            lease_until=now_ms + self.lease_ms if self.owner is not None else 0,
        )

    def start_here(self, plan: Plan, item: QueueItem, fresh: FreshRun | None = None) -> None:
        """Run ``item`` in this process as soon as the plan commits, if this process executes;
        ``fresh``: the run it starts, just created by this plan."""
        if self.owner is not None:
            plan.to_dispatch.append(item)
            if fresh is not None:
                plan.fresh[item.item_id] = fresh

    def run_on(self, plan: Plan, run_id: str, now_ms: int, *, force_plan: bool = False) -> None:
        """The run got what it waited for: store its execute item and run it at once."""
        item = self.execute_item(run_id, now_ms)
        if force_plan:
            item.payload = {FORCE_PLAN_KEY: True}
        plan.changes.items.append(item)
        self.start_here(plan, item)
