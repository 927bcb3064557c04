"""One execution of a run as it goes on, and the write that shows the run as Running."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stepwell.core.runs import RunStatus
from stepwell.engine.plan import Plan
from stepwell.engine.registry import FunctionSpec
from stepwell.engine.run_timeouts import on_first_execution
from stepwell.engine.step_buffer import StepBuffer
from stepwell.engine.trace import ExecutionClock
from stepwell.ports.records import QueueItem, RunRecord, RunUpdate, StepRow, StepSpan

BufferedStep = tuple[StepRow, StepSpan | None]
"""A finished step's write, waiting in its execution's ``StepBuffer``: its memo and span."""


@dataclass(slots=True)
class ExecutionState:
    """One call of the driver for a run, as it goes on."""

    item: QueueItem
    run: RunRecord
    spec: FunctionSpec
    events: list[dict[str, Any]]
    started: bool
    """Shown as Running (or its write is on the way)."""
    start_planned: bool = False
    """A step's or the end's write carries the Running mark: the separate one is not made."""
    clock: ExecutionClock | None = None
    retry: tuple[float, str | None, dict[str, Any] | None] | None = None
    """The retry its outcome scheduled: delay, failed step, error (for telemetry)."""
    ahead: StepBuffer[BufferedStep] | None = None
    """Its steps on their way to the store (checkpointing on), made at its first such step."""
    unsent: list[BufferedStep] = field(default_factory=list)
    """Buffered steps no batch took before the execution ended: they ride on its end's write."""


def plan_started(plan: Plan, state: ExecutionState, now: int) -> None:
    """This write carries the Running mark (so the separate one is not made)."""
    state.start_planned = True
    mark_started(plan, state.run, state.spec, now)


def mark_started(plan: Plan, run: RunRecord, spec: FunctionSpec, now: int) -> None:
    """The run's first execution: Running, and its run timeouts move on."""
    plan.changes.run_updates.append(
        RunUpdate(
            run_id=run.run_id,
            status=RunStatus.RUNNING,
            expect=(RunStatus.QUEUED, RunStatus.RUNNING),
            started_at=now,
        )
    )
    on_first_execution(plan, spec.flow, run.run_id, now)
