"""Deciding whether and when a new run starts (protocol.md §3.4.2).

Rate limit and singleton ``skip`` drop the run (its events stay stored); idempotency skips a
repeat within 24 h; throttle delays the start (every limit of a list must pass); priority moves
it in the queue; singleton ``cancel`` ends the run it replaces. State is read through the plan
being built, so several events of one send see one another, and written by compare-and-set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stepwell.core.expressions import evaluate_key
from stepwell.core.flow import clamp_priority
from stepwell.core.rates import Gcra, SlidingLimit
from stepwell.engine.keys import (
    concurrency_key,
    concurrency_scope,
    expression_idempotency_key,
    rate_limit_key,
    singleton_key,
    throttle_key,
)
from stepwell.engine.plan import Plan
from stepwell.engine.registry import FunctionSpec
from stepwell.ports.records import StatePut, StoredEvent
from stepwell.ports.store import EngineStore


@dataclass(slots=True)
class Admission:
    start_at: int
    priority_s: int = 0
    idempotency_key: str | None = None
    concurrency_keys: list[list[Any]] = field(default_factory=list)
    replaces: str | None = None
    """A run singleton ``cancel`` ends in favour of this one."""


class StateView:
    """Flow state as the plan will leave it: pending writes first, then the store."""

    def __init__(self, store: EngineStore, plan: Plan) -> None:
        self._store = store
        self._plan = plan

    async def get(self, key: str) -> tuple[Any, int | None]:
        for put in reversed(self._plan.changes.states):
            if put.key == key:
                return put.value, put.expect_version
        found = await self._store.get_states([key])
        if key in found:
            value, version = found[key]
            return value, version
        return None, None

    def put(self, key: str, value: Any, read_version: int | None) -> None:
        """Write ``value``; within one plan the first read's version guards the final write."""
        states = self._plan.changes.states
        earlier = [p for p in states if p.key == key]
        expect = earlier[0].expect_version if earlier else read_version
        for p in earlier:
            states.remove(p)
        states.append(StatePut(key, value, expect))


def concurrency_keys(spec: FunctionSpec, wire: dict[str, Any]) -> list[list[Any]]:
    keys: list[list[Any]] = []
    for rule in spec.flow.concurrency:
        value = evaluate_key(rule.key, {"event": wire}) if rule.key else ""
        keys.append([concurrency_key(concurrency_scope(spec.slug, rule.scope), value), rule.limit])
    return keys


async def decide(
    spec: FunctionSpec,
    events: list[StoredEvent],
    plan: Plan,
    store: EngineStore,
    now_ms: int,
    run_id: str,
) -> Admission | None:
    """Run ``run_id``'s admission, or None when it must not be created."""
    flow = spec.flow
    if not (flow.admits or flow.concurrency):
        # Most functions set no flow control: nothing to evaluate, read or write.
        return Admission(start_at=now_ms)
    wire = events[0].to_wire()
    variables = {"event": wire}
    state = StateView(store, plan)
    admission = Admission(start_at=now_ms, concurrency_keys=concurrency_keys(spec, wire))

    if flow.rate_limit is not None:
        rule = flow.rate_limit
        key = rate_limit_key(spec.slug, evaluate_key(rule.key, variables) if rule.key else "")
        recent, version = await state.get(key)
        admitted, remembered = SlidingLimit(rule.limit, rule.period_ms).admit(
            list(recent or []), now_ms
        )
        if not admitted:
            return None
        state.put(key, remembered, version)

    if flow.idempotency:
        value = evaluate_key(flow.idempotency, variables)
        admission.idempotency_key = expression_idempotency_key(spec.slug, value)

    if flow.singleton is not None:
        rule_s = flow.singleton
        value = evaluate_key(rule_s.key, variables) if rule_s.key else ""
        key = singleton_key(spec.slug, value)
        owner, version = await state.get(key)
        holder = owner.get("run_id") if isinstance(owner, dict) else None
        if holder is not None and await _active(store, plan, holder):
            if rule_s.mode == "skip":
                return None
            admission.replaces = holder
        state.put(key, {"run_id": run_id}, version)

    if flow.throttles:
        starts: list[tuple[str, Gcra, Any, int | None]] = []
        start = now_ms
        for index, rule_t in enumerate(flow.throttles):
            value = evaluate_key(rule_t.key, variables) if rule_t.key else ""
            key = throttle_key(spec.slug, index, value)
            gcra = Gcra(rule_t.limit, rule_t.period_ms, rule_t.burst)
            tat, version = await state.get(key)
            starts.append((key, gcra, tat, version))
            start = max(start, gcra.schedule(tat, now_ms)[0])
        for key, gcra, tat, version in starts:
            # Every limit must pass: each counts the start at the latest time any allows.
            state.put(key, gcra.schedule(tat, start)[1], version)
        admission.start_at = start

    admission.priority_s = priority_seconds(spec, wire)
    return admission


def priority_seconds(spec: FunctionSpec, wire: dict[str, Any]) -> int:
    """``priority.run`` for the run of this (first) event: seconds, clamped; 0 without one."""
    if not spec.flow.priority:
        return 0
    return clamp_priority(_evaluate_number(spec.flow.priority, {"event": wire}))


def _evaluate_number(source: str, variables: dict[str, Any]) -> Any:
    text = evaluate_key(source, variables)
    try:
        return float(text)
    except ValueError:
        return 0


async def _active(store: EngineStore, plan: Plan, run_id: str) -> bool:
    if run_id in plan.ended_runs:
        return False
    if any(new.record.run_id == run_id for new in plan.changes.runs):
        return True
    run = await store.get_run(run_id)
    return run is not None and not run.status.is_terminal
