"""Deferred runs in the engine: recording ``DeferAdd``/``DeferAbort`` against a run, and
starting what is still scheduled in the commit that ends it (rules: ``core.defers``).

A run's defers live in one versioned state entry (``keys.defers_key``), so every change is a
compare-and-set: two writers racing re-plan instead of both counting against the limits. A
recording also carries a guard on the run's status, so nothing is recorded once the run has
ended. The ending marks the entry ended and plans one ``inngest/deferred.schedule`` event per
scheduled defer into the same commit: the child runs exist as soon as the parent's end does,
and a crash in between loses neither.
"""

from __future__ import annotations

import logging
from typing import Any

from stepwell.core import defers as rules
from stepwell.core.runs import RunStatus
from stepwell.engine.endings import UNENDED, system_event
from stepwell.engine.keys import defers_key
from stepwell.engine.plan import Plan
from stepwell.ports.records import RunUpdate, StatePut
from stepwell.ports.store import EngineStore
from stepwell.protocol.ops import Op, Opcode

log = logging.getLogger("stepwell.engine.defers")


async def load_defers(store: EngineStore, run_id: str) -> tuple[rules.RunDefers, int | None]:
    """A run's defers and the version of their entry (None: nothing recorded yet)."""
    found = (await store.get_states([defers_key(run_id)])).get(defers_key(run_id))
    if found is None:
        return rules.RunDefers(), None
    value, version = found
    return rules.RunDefers.from_json(value), version


async def plan_defer_op(store: EngineStore, run_id: str, op: Op, plan: Plan, now_ms: int) -> Any:
    """Record one lazy op in ``plan``; returns what the SDK's next request should say of it
    (``{"abortable": bool}``), or None if nothing is recorded for it."""
    current, version = await load_defers(store, run_id)
    if op.op is Opcode.DEFER_ADD:
        user_id = op.name or op.display_name
        changed = rules.add_defer(current, op.id, op.opts, user_id)
        if changed is current and current.get(op.id) is None and not current.ended:
            log.warning(
                "run %s: defer %r dropped: the run already has %d defers, the most it may",
                run_id,
                user_id,
                rules.MAX_DEFERS_PER_RUN,
            )
    else:
        problem = rules.abort_problem(op.opts)
        if problem is not None:
            log.warning("run %s: DeferAbort ignored: %s", run_id, problem)
            return None
        changed = rules.abort_defer(current, op.opts)
    target = op.id if op.op is Opcode.DEFER_ADD else str(op.opts.get("target_hashed_id"))
    if changed is not current:
        plan.changes.states.append(StatePut(defers_key(run_id), changed.to_json(), version))
        # Only while the run goes on: its end has already started what it deferred.
        plan.changes.run_updates.append(
            RunUpdate(run_id=run_id, status=RunStatus.RUNNING, expect=UNENDED, started_at=now_ms)
        )
        added = changed.get(target)
        if added is not None and added.status is rules.DeferStatus.REJECTED:
            log.warning("run %s: defer %r rejected: %s", run_id, added.user_id, added.reason)
    recorded = changed.get(target)
    if recorded is None:
        return None
    return {"abortable": recorded.status is rules.DeferStatus.SCHEDULED}


async def plan_deferred_starts(store: EngineStore, plan: Plan, now_ms: int) -> None:
    """For each run ``plan`` ends: start its scheduled defers, in the same commit."""
    keys = [defers_key(run_id) for run_id in plan.ended_runs]
    found = await store.get_states(keys)
    if not found:
        return
    for run_id in plan.ended_runs:
        entry = found.get(defers_key(run_id))
        if entry is None:
            continue
        current = rules.RunDefers.from_json(entry[0])
        if current.ended:
            continue
        run = await store.get_run(run_id)
        parent_slug = run.function_id if run is not None else ""
        # Inputs are dropped once used; the entry stays to say what became of each defer.
        ended = rules.RunDefers(
            tuple(
                rules.Defer(d.hashed_id, d.fn_slug, d.status, None, 0, d.user_id, d.reason)
                for d in current.defers
            ),
            ended=True,
        )
        plan.changes.states.append(StatePut(defers_key(run_id), ended.to_json(), entry[1]))
        for defer in current.scheduled:
            data = rules.schedule_event_data(
                defer, parent_fn_slug=parent_slug, parent_run_id=run_id
            )
            event_id = rules.schedule_event_id(run_id, defer.hashed_id)
            plan.follow_events.append(
                system_event(rules.DEFERRED_SCHEDULE, data, now_ms, user_id=event_id)
            )
