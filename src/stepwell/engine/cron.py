"""Cron triggers: one queue item per schedule, fired and re-armed in the same commit.

Firing a tick stores its ``inngest/scheduled.timer`` event, starts the run (with the tick time as
idempotency key) and moves the item to the next tick, all in one transaction: a tick fires once,
also across restarts. A tick missed while no process was up fires once when one starts (the
earliest missed one); the schedule then carries on from the present.
"""

from __future__ import annotations

from typing import Any

from stepwell.core.cron import jitter_ms, parse_cron
from stepwell.core.ids import new_ulid
from stepwell.engine.keys import cron_item_id, gate_owner
from stepwell.engine.plan import Plan
from stepwell.engine.planner import Planner
from stepwell.engine.registry import CronTrigger, FunctionSpec, Registry
from stepwell.ports.clock import Clock
from stepwell.ports.records import ItemKind, QueueItem, StoredEvent
from stepwell.ports.store import EngineStore
from stepwell.protocol import events as names
from stepwell.protocol.durations import parse_duration, to_ms, whole_second_instant_from_ms
from stepwell.protocol.events import Event


def _rfc3339(ms: int) -> str:
    # To the second, not format_instant's milliseconds: the tick's event id (its idempotency
    # key) and the scheduledAt that functions and tests read have always had this form.
    return whole_second_instant_from_ms(ms)


class CronScheduler:
    def __init__(
        self, registry: Registry, store: EngineStore, planner: Planner, clock: Clock
    ) -> None:
        self._registry = registry
        self._store = store
        self._planner = planner
        self._clock = clock

    def _tick_item(self, spec: FunctionSpec, trigger: CronTrigger, after_ms: int) -> QueueItem:
        scheduled = parse_cron(trigger.cron).next_after(after_ms)
        jitter = jitter_ms(to_ms(parse_duration(trigger.jitter)) if trigger.jitter else 0)
        return QueueItem(
            item_id=cron_item_id(spec.slug, trigger.cron),
            run_id=gate_owner("cron", spec.slug),
            kind=ItemKind.CRON,
            due_at=scheduled + jitter,
            payload={"function_id": spec.slug, "cron": trigger.cron, "scheduled_at": scheduled},
        )

    async def reconcile(self, plan: Plan) -> None:
        """Add items for new schedules, drop those of schedules that are gone."""
        now = self._clock.now_ms()
        wanted = {
            cron_item_id(spec.slug, trigger.cron): (spec, trigger)
            for spec in self._registry
            for trigger in spec.crons
        }
        existing = {item.item_id for item in await self._store.items_of_kind(ItemKind.CRON)}
        for item_id, (spec, trigger) in wanted.items():
            if item_id not in existing:
                plan.changes.items.append(self._tick_item(spec, trigger, now))
        plan.changes.items_removed.extend(sorted(existing - set(wanted)))

    async def fire(self, item: QueueItem, plan: Plan) -> None:
        payload: dict[str, Any] = item.payload or {}
        spec = self._registry.get(str(payload.get("function_id")))
        trigger = next(
            (t for t in (spec.crons if spec else []) if t.cron == payload.get("cron")), None
        )
        if spec is None or trigger is None:
            plan.changes.items_removed.append(item.item_id)  # the schedule is gone
            return
        now = self._clock.now_ms()
        scheduled = int(payload["scheduled_at"])
        tick = StoredEvent(
            internal_id=new_ulid(),
            received_at=now,
            event=Event(
                name=names.SCHEDULED_TIMER,
                id=_rfc3339(scheduled),
                ts=item.due_at,
                data={
                    "cron": trigger.cron,
                    "scheduledAt": _rfc3339(scheduled),
                    "fireAt": _rfc3339(item.due_at),
                },
            ),
        )
        plan.changes.events.append(tick)
        await self._planner.start_run(spec, [tick], plan, now)
        following = self._tick_item(spec, trigger, max(scheduled, now))
        following.generation = item.generation
        plan.changes.items_rescheduled.append(following)
