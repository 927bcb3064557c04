"""Flow control at run creation: debounce and batching.

Their state lives in one queue item per (function, key), with a deterministic id: the item's
payload holds the pending event ids and its due time is when the run starts. Every update is a
compare-and-set on the item (``ItemPut``), so concurrent events never lose one another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stepwell.core.expressions import evaluate_bool, evaluate_key
from stepwell.core.flow import batch_full, debounce_due
from stepwell.engine.keys import batch_item_id, debounce_item_id, gate_owner
from stepwell.engine.plan import Plan
from stepwell.engine.registry import FunctionSpec, Registry
from stepwell.ports.records import ItemKind, ItemPut, QueueItem, StoredEvent
from stepwell.ports.store import EngineStore


@dataclass(frozen=True, slots=True)
class StartRun:
    """The gate's decision: start a run of ``spec`` for ``events`` now (the planner does)."""

    spec: FunctionSpec
    events: list[StoredEvent]
    idempotent: bool = True


class FlowGate:
    """Holds events back for debounce and batching; says when a run should start."""

    def __init__(self, registry: Registry, store: EngineStore) -> None:
        self._registry = registry
        self._store = store

    async def admit(
        self,
        spec: FunctionSpec,
        event: StoredEvent,
        wire: dict[str, Any],
        plan: Plan,
        now_ms: int,
    ) -> StartRun | None:
        """Route an event to a gated function: into its debounce or its batch; returns the
        run to start now, if any (a full batch, an event its batch condition leaves out)."""
        if spec.flow.batch is not None:
            return await self._batch(spec, event, wire, plan, now_ms)
        if spec.flow.debounce is not None:
            await self._debounce(spec, event, wire, plan, now_ms)
        return None

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
        item_id = debounce_item_id(spec.slug, key)
        current = await self._pending(item_id, plan)
        payload = dict(current.payload or {}) if current else {}
        first = int(payload.get("first_at", now))
        ids = list(payload.get("event_ids", [])) if rule.all_events else []
        ids.append(event.internal_id)  # the last event wins, unless all are asked for
        item = QueueItem(
            item_id=item_id,
            run_id=gate_owner("debounce", spec.slug),
            kind=ItemKind.DEBOUNCE,
            due_at=debounce_due(now, first, rule),
            payload={"function_id": spec.slug, "event_ids": ids, "first_at": first},
        )
        self._put(plan, item, current)

    async def _batch(
        self, spec: FunctionSpec, event: StoredEvent, wire: dict[str, Any], plan: Plan, now: int
    ) -> StartRun | None:
        rule = spec.flow.batch
        assert rule is not None
        if rule.condition and not evaluate_bool(rule.condition, {"event": wire}):
            return StartRun(spec, [event])  # not batched: alone
        key = evaluate_key(rule.key, {"event": wire}) if rule.key else ""
        item_id = batch_item_id(spec.slug, key)
        current = await self._pending(item_id, plan)
        payload = dict(current.payload or {}) if current else {}
        ids = [*payload.get("event_ids", []), event.internal_id]
        item = QueueItem(
            item_id=item_id,
            run_id=gate_owner("batch", spec.slug),
            kind=ItemKind.BATCH,
            due_at=current.due_at if current else now + rule.timeout_ms,
            payload={"function_id": spec.slug, "event_ids": ids},
        )
        if batch_full(len(ids), rule):
            self._put(plan, item, current, delete=True)
            return StartRun(spec, await self._events(ids, plan), idempotent=False)
        self._put(plan, item, current)
        return None

    async def fire(self, item: QueueItem, plan: Plan, now_ms: int) -> StartRun | None:
        """A debounce period or a batch timeout ended: the run to start (None: nothing left)."""
        del now_ms  # the run starts when the planner plans it
        payload = item.payload or {}
        spec = self._registry.get(str(payload.get("function_id")))
        self._put(plan, item, item, delete=True)
        if spec is None:
            return None
        events = await self._events(list(payload.get("event_ids", [])), plan)
        return StartRun(spec, events, idempotent=False) if events else None

    async def _events(self, ids: list[str], plan: Plan) -> list[StoredEvent]:
        fresh = {e.internal_id: e for e in plan.changes.events}
        missing = [i for i in ids if i not in fresh]
        stored = {e.internal_id: e for e in await self._store.get_events(missing)}
        return [fresh.get(i) or stored[i] for i in ids if i in fresh or i in stored]
