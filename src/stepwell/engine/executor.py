"""Running one queue item: each kind goes to the module that owns it.

``execute`` runs the function (``engine.execution``); ``sleep`` and ``pause_timeout`` are a run's
timers (``engine.timers``); ``run_timeout`` is ``engine.run_timeouts``; ``cron`` ticks and
``debounce``/``batch`` gates start runs. An item whose run has ended is dropped.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

from stepwell.engine.committer import Committer
from stepwell.engine.cron import CronScheduler
from stepwell.engine.execution import Executions
from stepwell.engine.plan import FreshRun, Plan, static_plan
from stepwell.engine.planner import Planner
from stepwell.engine.registry import FunctionSpec
from stepwell.engine.run_timeouts import is_run_timeout, plan_timeout
from stepwell.engine.timers import Timers
from stepwell.ports.clock import Clock
from stepwell.ports.records import ItemKind, QueueItem
from stepwell.ports.store import EngineStore, StoreConflict

log = logging.getLogger("stepwell.engine")

UNKNOWN_FUNCTION_RETRY_MS = 5_000


class Executor:
    def __init__(
        self,
        *,
        store: EngineStore,
        planner: Planner,
        clock: Clock,
        committer: Committer,
        cron: CronScheduler,
        executions: Executions,
        find_function: Callable[[str], Awaitable[FunctionSpec | None]],
    ) -> None:
        self._store = store
        self._planner = planner
        self._clock = clock
        self._committer = committer
        self._cron = cron
        self._executions = executions
        # The registry, then what the store keeps beside it (durable endpoints' functions).
        self._find_function = find_function
        self._timers = Timers(committer=committer, clock=clock, lease=planner.lease)

    def waits_for_room(self, fresh: FreshRun) -> bool:
        """Whether a run just created here would only wait for a free slot if started now (it
        has no concurrency key to queue for, in its key's order)."""
        return not fresh.run.concurrency_keys and self._executions.full

    def on_room(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever an execution gives its slot back."""
        self._executions.on_room = wake

    async def run_item(self, handed: QueueItem, fresh: FreshRun | None = None) -> None:
        """Run the item as it is stored now (it may be done already: a duplicate hand-off).

        ``fresh``: the run the item starts, as this process has just created it; nothing is
        read back (the first write of its execution still fails if the run has ended)."""
        if fresh is not None and handed.kind is ItemKind.EXECUTE:
            spec = await self._find_function(fresh.run.function_id)
            if spec is not None:
                await self._executions.execute(
                    handed, fresh.run, spec, fresh.events, landed=fresh.landed
                )
                return
        item = await self._store.get_item(handed.item_id)
        if item is None:
            return
        if item.kind is ItemKind.CRON:
            await self._commit_with(lambda plan: self._cron.fire(item, plan))
            return
        if item.kind in (ItemKind.DEBOUNCE, ItemKind.BATCH):
            # A conflict means an event changed the item meanwhile: it is due again later.
            with contextlib.suppress(StoreConflict):
                await self._commit_with(
                    lambda plan: self._planner.plan_gate_fired(item, plan, self._clock.now_ms())
                )
            return
        if is_run_timeout(item):
            await self._commit_with(
                lambda plan: plan_timeout(self._store, item, plan, self._clock.now_ms())
            )
            return
        run = await self._store.get_run(item.run_id)
        if run is None or run.status.is_terminal:
            await self._committer.commit(
                static_plan(lambda plan: plan.changes.items_removed.append(item.item_id))
            )
            return
        if item.kind is not ItemKind.EXECUTE:
            await self._timers.fire(item)
            return
        spec = await self._find_function(run.function_id)
        if spec is None:
            # Its app may not have synced yet (a server restart): look again a little later.
            log.warning(
                "run %s belongs to unregistered function %s; it stays queued",
                run.run_id,
                run.function_id,
            )
            later = replace(
                item,
                due_at=self._clock.now_ms() + UNKNOWN_FUNCTION_RETRY_MS,
                lease_owner=None,
                lease_until=0,
            )
            await self._committer.commit(
                static_plan(lambda plan: plan.changes.items_rescheduled.append(later))
            )
            return
        await self._executions.execute(item, run, spec)

    async def _commit_with(self, fill: Callable[[Plan], Awaitable[object]]) -> None:
        """Commit a plan ``fill`` builds from fresh reads (built again on a lost race)."""

        async def build() -> Plan:
            plan = Plan()
            await fill(plan)
            return plan

        await self._committer.commit(build)
