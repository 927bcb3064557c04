"""A run's timers: a sleep ended, or a wait (event, invoke, signal) ran out of time.

Either way the step gets its value (``null``; an invoke's timeout error) and the run goes on.
If an event resumed the wait first, its pause is gone and this timer has nothing left to do.
"""

from __future__ import annotations

from typing import Any

from stepwell.core.memo import INVOKE_TIMEOUT_ERROR
from stepwell.engine.committer import Committer
from stepwell.engine.keys import PauseId
from stepwell.engine.plan import FORCE_PLAN_KEY, Lease, Plan, static_plan
from stepwell.engine.trace import closed_span
from stepwell.ports.clock import Clock
from stepwell.ports.records import ItemKind, PauseKind, QueueItem, StepRow
from stepwell.ports.store import StoreConflict


def timer_value(item: QueueItem) -> Any:
    """What the step's memo holds when its timer fires."""
    invoked = (
        item.kind is ItemKind.PAUSE_TIMEOUT
        and item.pause_id is not None
        and PauseId.parse(item.pause_id).kind is PauseKind.INVOKE
    )
    return INVOKE_TIMEOUT_ERROR if invoked else None


class Timers:
    def __init__(self, *, committer: Committer, clock: Clock, lease: Lease) -> None:
        self._committer = committer
        self._clock = clock
        self._lease = lease

    async def fire(self, item: QueueItem) -> None:
        assert item.step_hash is not None
        step_hash = item.step_hash

        async def build() -> Plan:
            now = self._clock.now_ms()
            plan = Plan()
            plan.changes.items_removed.append(item.item_id)
            if item.kind is ItemKind.PAUSE_TIMEOUT:
                assert item.pause_id is not None
                plan.changes.pauses_consumed.append(item.pause_id)
            plan.changes.steps.append(StepRow(item.run_id, step_hash, timer_value(item)))
            span = closed_span(item.payload, now)
            if span is not None:
                plan.changes.spans.append(span)
            forced = bool((item.payload or {}).get(FORCE_PLAN_KEY))
            self._lease.run_on(plan, item.run_id, now, force_plan=forced)
            return plan

        try:
            await self._committer.commit(build)
        except StoreConflict:
            # An event resumed the pause first: this timeout has nothing left to do.
            await self._committer.commit(
                static_plan(lambda plan: plan.changes.items_removed.append(item.item_id))
            )
