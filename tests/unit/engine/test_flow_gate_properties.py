"""FlowGate (engine/flow.py) against the debounce and batching models of the core tests.

The real FlowGate decides; a small in-memory store applies its item writes compare-and-set, the
runs it says to start are recorded, and a controllable clock fires due items before an event
arriving at the same millisecond. The runs it starts must be exactly the model's.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import cast

from hypothesis import given, settings

from stepwell.core.flow import Batch, Debounce, FlowConfig
from stepwell.engine.flow import FlowGate, StartRun
from stepwell.engine.plan import Plan
from stepwell.engine.registry import FunctionSpec, Registry
from stepwell.ports.records import QueueItem, StoredEvent
from stepwell.ports.store import Store
from stepwell.protocol.events import Event
from tests.unit.core.test_flow_properties import (
    batch_cases,
    debounce_cases,
    simulate_batches,
    simulate_debounce,
)

SETTINGS = settings(max_examples=80, derandomize=True, database=None, deadline=None)


class ItemStore:
    """The two reads FlowGate makes, and a commit that applies its item writes."""

    def __init__(self) -> None:
        self.items: dict[str, QueueItem] = {}
        self.events: dict[str, StoredEvent] = {}

    async def get_item(self, item_id: str) -> QueueItem | None:
        return self.items.get(item_id)

    async def get_events(self, ids: list[str]) -> list[StoredEvent]:
        return [self.events[i] for i in ids if i in self.events]

    def commit(self, plan: Plan) -> None:
        for event in plan.changes.events:
            self.events[event.internal_id] = event
        for put in plan.changes.items_put:
            current = self.items.get(put.item.item_id)
            assert (current.generation if current else None) == put.expect_generation
            if put.delete:
                self.items.pop(put.item.item_id, None)
            else:
                generation = current.generation + 1 if current else 1
                self.items[put.item.item_id] = replace(put.item, generation=generation)


async def drive(flow: FlowConfig, arrivals: list[tuple[int, str]]) -> list[tuple[int, list[str]]]:
    spec = FunctionSpec(app_id="app", local_id="fn", name="fn", flow=flow)
    store = ItemStore()
    registry = Registry()
    registry.add(spec)
    gate = FlowGate(registry, cast(Store, store))
    started: list[tuple[int, list[str]]] = []

    def record(start: StartRun | None, now: int) -> None:
        if start is not None:
            started.append((now, [e.internal_id for e in start.events]))

    async def fire_due(now: int | None) -> None:
        while True:
            due = [i for i in store.items.values() if now is None or i.due_at <= now]
            if not due:
                return
            item = min(due, key=lambda i: i.due_at)
            plan = Plan()
            # The clock stands at the due time.
            record(await gate.fire(item, plan, item.due_at), item.due_at)
            store.commit(plan)

    for index, (now, key) in enumerate(arrivals):
        await fire_due(now)
        event = StoredEvent(f"e{index}", Event(name="test/flow", data={"k": key}), now)
        plan = Plan()
        plan.changes.events.append(event)
        record(await gate.admit(spec, event, event.to_wire(), plan, now), now)
        store.commit(plan)
    await fire_due(None)
    assert not store.items
    return started


@SETTINGS
@given(debounce_cases())
def test_flow_gate_debounces_like_the_model(case: tuple[Debounce, list[int]]) -> None:
    rule, times = case
    started = asyncio.run(drive(FlowConfig(debounce=rule), [(t, "") for t in times]))
    expected = [(run.at, [f"e{i}" for i in run.events]) for run in simulate_debounce(rule, times)]
    assert started == expected


@SETTINGS
@given(batch_cases())
def test_flow_gate_batches_like_the_model(case: tuple[Batch, list[tuple[int, str]]]) -> None:
    rule, arrivals = case
    keyed = replace(rule, key="event.data.k")
    started = asyncio.run(drive(FlowConfig(batch=keyed), arrivals))
    expected = [(b.at, [f"e{i}" for i in b.events]) for b in simulate_batches(rule, arrivals)]
    assert started == expected


def test_flow_gate_debounce_example() -> None:
    """§10.18: three quick events, period 2 s: one run, with the last event, 2 s after it."""
    rule = Debounce(period_ms=2000)
    started = asyncio.run(drive(FlowConfig(debounce=rule), [(0, ""), (300, ""), (700, "")]))
    assert started == [(2700, ["e2"])]


def test_flow_gate_batch_example() -> None:
    """§10.18: maxSize 3: three events start one run with all three, at the third."""
    rule = Batch(max_size=3, timeout_ms=5000)
    arrivals = [(0, "a"), (10, "a"), (20, "a"), (30, "a")]
    started = asyncio.run(drive(FlowConfig(batch=rule), arrivals))
    assert started == [(20, ["e0", "e1", "e2"]), (5030, ["e3"])]
