"""Flow control at run creation: debounce and batching.

Their state lives in one queue item per (function, key), with a deterministic id: the item's
payload holds the pending event ids and its due time is when the run starts. Every update is a
compare-and-set on the item (``ItemPut``), so concurrent events never lose one another.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from stepwell.core.expressions import evaluate_bool, evaluate_key
from stepwell.core.flow import batch_full, debounce_due
from stepwell.ports.records import ItemKind, ItemPut, QueueItem, StoredEvent
from stepwell.ports.store import Store

if TYPE_CHECKING:
    from stepwell.engine.planner import Plan, Planner
    from stepwell.engine.registry import FunctionSpec


def _key_digest(value: str) -> str:
    return hashlib.sha1(value.encode("utf-8")).hexdigest()[:16]


class FlowGate:
    def __init__(self, planner: Planner, store: Store) -> None:
        self._planner = planner
        self._store = store

    async def admit(
        self,
        spec: FunctionSpec,
        event: StoredEvent,
        wire: dict[str, Any],
        plan: Plan,
        now_ms: int,
    ) -> None:
        """Route an event to a gated function: into its debounce or its batch."""
        if spec.flow.batch is not None:
            await self._batch(spec, event, wire, plan, now_ms)
        elif spec.flow.debounce is not None:
            await self._debounce(spec, event, wire, plan, now_ms)

    async def _pending(self, item_id: str, plan: Plan) -> QueueItem | None:
        """The item as this plan last wrote it, else as stored (several events in one send)."""
        for put in reversed(plan.changes.items_put):
            if put.item.item_id == item_id:
                return None if put.delete else put.item
        return await self._store.get_item(item_id)

    @staticmethod
    def _put(plan: Plan, item: QueueItem, current: QueueItem | None, delete: bool = False) -> None:
        # Within one plan, later writes to the same item replace the earlier one.
        earlier = [p for p in plan.changes.items_put if p.item.item_id == item.item_id]
        expect = (
            earlier[0].expect_generation
            if earlier
            else (current.generation if current is not None else None)
        )
        for put in earlier:
            plan.changes.items_put.remove(put)
        if delete and expect is None:
            return  # created and used up within this plan: nothing to store
        plan.changes.items_put.append(ItemPut(item, expect, delete=delete))

    async def _debounce(
        self, spec: FunctionSpec, event: StoredEvent, wire: dict[str, Any], plan: Plan, now: int
    ) -> None:
        rule = spec.flow.debounce
        assert rule is not None
        key = evaluate_key(rule.key, {"event": wire}) if rule.key else ""
        item_id = f"debounce:{spec.slug}:{_key_digest(key)}"
        current = await self._pending(item_id, plan)
        payload = dict(current.payload or {}) if current else {}
        first = int(payload.get("first_at", now))
        ids = list(payload.get("event_ids", [])) if rule.all_events else []
        ids.append(event.internal_id)  # the last event wins, unless all are asked for
        item = QueueItem(
            item_id=item_id,
            run_id=f"debounce:{spec.slug}",
            kind=ItemKind.DEBOUNCE,
            due_at=debounce_due(now, first, rule),
            payload={"function_id": spec.slug, "event_ids": ids, "first_at": first},
        )
        self._put(plan, item, current)

    async def _batch(
        self, spec: FunctionSpec, event: StoredEvent, wire: dict[str, Any], plan: Plan, now: int
    ) -> None:
        rule = spec.flow.batch
        assert rule is not None
        if rule.condition and not evaluate_bool(rule.condition, {"event": wire}):
            await self._planner.start_run(spec, [event], plan, now)  # not batched: alone
            return
        key = evaluate_key(rule.key, {"event": wire}) if rule.key else ""
        item_id = f"batch:{spec.slug}:{_key_digest(key)}"
        current = await self._pending(item_id, plan)
        payload = dict(current.payload or {}) if current else {}
        ids = [*payload.get("event_ids", []), event.internal_id]
        item = QueueItem(
            item_id=item_id,
            run_id=f"batch:{spec.slug}",
            kind=ItemKind.BATCH,
            due_at=current.due_at if current else now + rule.timeout_ms,
            payload={"function_id": spec.slug, "event_ids": ids},
        )
        if batch_full(len(ids), rule):
            events = await self._events(ids, plan)
            await self._planner.start_run(spec, events, plan, now, idempotent=False)
            self._put(plan, item, current, delete=True)
        else:
            self._put(plan, item, current)

    async def fire(self, item: QueueItem, plan: Plan, now_ms: int) -> None:
        """A debounce period or a batch timeout ended: start the run."""
        payload = item.payload or {}
        spec = self._planner.registry.get(str(payload.get("function_id")))
        self._put(plan, item, item, delete=True)
        if spec is None:
            return
        events = await self._events(list(payload.get("event_ids", [])), plan)
        if events:
            await self._planner.start_run(spec, events, plan, now_ms, idempotent=False)

    async def _events(self, ids: list[str], plan: Plan) -> list[StoredEvent]:
        fresh = {e.internal_id: e for e in plan.changes.events}
        missing = [i for i in ids if i not in fresh]
        stored = {e.internal_id: e for e in await self._store.get_events(missing)}
        return [fresh.get(i) or stored[i] for i in ids if i in fresh or i in stored]
