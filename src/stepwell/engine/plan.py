"""A plan: what one engine decision writes, and what to do locally once it is committed.

A leaf: planning modules fill a plan and return; the committer (``engine.committer``) commits it,
plans its follow-up events in, and hands what it leased to this process to the dispatcher.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from stepwell.engine.keys import execute_item_id
from stepwell.ports.records import (
    ChangeSet,
    ItemKind,
    Pause,
    QueueItem,
    RunRecord,
    StoredEvent,
)
from stepwell.ports.telemetry import RunEnding


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


@dataclass(frozen=True, slots=True)
class FreshRun:
    """A run as this process has just created it: its record and its events, no steps yet.

    Handed on with its execute item so that the first execution reads nothing back (each read
    is a round trip on PostgreSQL); a later change (a cancel) still refuses its first write.
    """

    run: RunRecord
    events: list[StoredEvent]


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
