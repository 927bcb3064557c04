"""Run timeouts (``timeouts.start`` and ``timeouts.finish``): created, cleared and fired here.

``start`` is armed when a run is created and cleared when it first executes; ``finish`` is
armed then. Either firing cancels the run, ``start`` only if the run is still queued.
"""

from __future__ import annotations

from stepwell.core.flow import FlowConfig
from stepwell.engine.endings import cancel_run
from stepwell.engine.keys import RunTimeoutKind, run_timeout_item_id
from stepwell.engine.plan import Plan
from stepwell.ports.records import ItemKind, QueueItem
from stepwell.ports.store import EngineStore


def is_run_timeout(item: QueueItem) -> bool:
    """A run timeout ends the run whatever it is doing (waiting for a concurrency slot
    included), so it is never queued behind the run's own execution."""
    return item.kind is ItemKind.RUN_TIMEOUT


def _item(run_id: str, kind: RunTimeoutKind, due_at: int) -> QueueItem:
    return QueueItem(
        item_id=run_timeout_item_id(run_id, kind),
        run_id=run_id,
        kind=ItemKind.RUN_TIMEOUT,
        due_at=due_at,
        payload={"timeout": kind},
    )


def arm_start_timeout(plan: Plan, flow: FlowConfig, run_id: str, now_ms: int) -> None:
    """A new run: it must start within ``timeouts.start``."""
    timeouts = flow.timeouts
    if timeouts is not None and timeouts.start_ms is not None:
        plan.changes.items.append(_item(run_id, "start", now_ms + timeouts.start_ms))


def on_first_execution(plan: Plan, flow: FlowConfig, run_id: str, now_ms: int) -> None:
    """The run started: its start timeout is over, its finish timeout begins."""
    timeouts = flow.timeouts
    if timeouts is None:
        return
    if timeouts.start_ms is not None:
        plan.changes.items_removed.append(run_timeout_item_id(run_id, "start"))
    if timeouts.finish_ms is not None:
        plan.changes.items.append(_item(run_id, "finish", now_ms + timeouts.finish_ms))


async def plan_timeout(store: EngineStore, item: QueueItem, plan: Plan, now_ms: int) -> None:
    """A run timeout fired: cancel the run (``start``: only if it is still queued)."""
    plan.changes.items_removed.append(item.item_id)
    kind = (item.payload or {}).get("timeout")
    # The run is read afresh on every attempt: this runs alongside the run's own execution.
    await cancel_run(store, item.run_id, plan, now_ms, only_if_queued=kind != "finish")
