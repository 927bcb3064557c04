"""What a run waits on: sleeps, events (with lookback), invoked runs, signals (§5.3, §5.12).

Each op the driver reports becomes pauses and timer items in the execution's closing plan.
"""

from __future__ import annotations

from typing import Any

from stepwell.core.errors import error_payload
from stepwell.core.expressions import evaluate_bool
from stepwell.core.limits import DEFAULT_INVOKE_TIMEOUT_MS, MAX_SLEEP_MS
from stepwell.core.memo import wrap_error
from stepwell.engine.endings import system_event
from stepwell.engine.keys import pause_id, pause_timeout_item_id, sleep_item_id
from stepwell.engine.plan import FORCE_PLAN_KEY, Plan
from stepwell.engine.planner import Planner
from stepwell.engine.registry import Registry
from stepwell.engine.trace import span_payload
from stepwell.ports.records import (
    ItemKind,
    Pause,
    PauseKind,
    QueueItem,
    RunRecord,
    SpanStatus,
    StepRow,
    StepSpan,
)
from stepwell.ports.store import EngineStore
from stepwell.protocol import events as names
from stepwell.protocol.durations import parse_duration, sleep_target_ms, to_ms
from stepwell.protocol.ops import Op, Opcode


def timeout_ms(raw: Any, *, default_ms: int) -> int:
    if raw in (None, ""):
        return default_ms
    return to_ms(parse_duration(str(raw)))


class Suspensions:
    def __init__(self, *, store: EngineStore, registry: Registry, planner: Planner) -> None:
        self._store = store
        self._registry = registry
        self._planner = planner
        self._lease = planner.lease

    async def apply(
        self,
        op: Op,
        plan: Plan,
        run: RunRecord,
        events: list[dict[str, Any]],
        now: int,
        span: StepSpan | None = None,
        *,
        force_plan: bool = False,
    ) -> None:
        """Plan what ``op`` waits on; ``span`` (its trace span, ``WAITING``) rides on the
        timer that ends the wait, so whatever ends it can close the span."""
        changes = plan.changes
        if op.op is Opcode.SLEEP:
            wake = sleep_target_ms(str(op.opts.get("duration") or op.name), now)
            if wake - now > MAX_SLEEP_MS:
                raise ValueError("sleeps longer than 366 days are not supported")
            if span is not None:
                span.detail = {"wake_at": wake}
            payload = span_payload(span) if span is not None else None
            if force_plan:  # a sleep beside other parallel work (§5.6)
                payload = {**(payload or {}), FORCE_PLAN_KEY: True}
            changes.items.append(
                QueueItem(
                    item_id=sleep_item_id(run.run_id, op.id),
                    run_id=run.run_id,
                    kind=ItemKind.SLEEP,
                    due_at=wake,
                    step_hash=op.id,
                    payload=payload,
                )
            )
            if span is not None:
                changes.spans.append(span)
        elif op.op is Opcode.WAIT_FOR_EVENT:
            if await self._looked_back(op, plan, run, events, now):
                self._ended_at_once(plan, span, now)
                return
            expires = now + timeout_ms(op.opts.get("timeout"), default_ms=0)
            pause = Pause(
                pause_id=pause_id(PauseKind.EVENT, run.run_id, op.id),
                run_id=run.run_id,
                step_hash=op.id,
                kind=PauseKind.EVENT,
                event_name=str(op.opts.get("event") or op.name),
                expires_at=expires,
                expression=op.opts.get("if") or None,
                trigger_event=events[0] if events else {},
            )
            self._pause(plan, span, pause, force_plan)
            if op.opts.get("lookback"):
                plan.looked_back.append(pause)
        elif op.op is Opcode.INVOKE_FUNCTION:
            await self._invoke(op, plan, run, now, span, force_plan)
        elif op.op is Opcode.WAIT_FOR_SIGNAL:
            await self._wait_for_signal(op, plan, run, now, span, force_plan)
        else:
            raise ValueError(f"opcode {op.op.value} is not supported by the embedded engine")

    async def _looked_back(
        self, op: Op, plan: Plan, run: RunRecord, events: list[dict[str, Any]], now: int
    ) -> bool:
        """``lookback``: an event that arrived shortly before the wait began matches too."""
        lookback = op.opts.get("lookback")
        if not lookback:
            return False
        name = str(op.opts.get("event") or op.name)
        expression = op.opts.get("if") or None
        trigger = events[0] if events else {}
        recent = await self._store.list_events(
            name=name, received_after=now - timeout_ms(lookback, default_ms=0), limit=1000
        )
        for candidate in reversed(recent):  # the earliest match wins, as with a pause
            if candidate.internal_id in run.event_ids:
                continue
            wire = candidate.to_wire()
            if expression and not evaluate_bool(expression, {"event": trigger, "async": wire}):
                continue
            plan.changes.steps.append(StepRow(run.run_id, op.id, wire))
            self._lease.run_on(plan, run.run_id, now)
            return True
        return False

    async def _wait_for_signal(
        self, op: Op, plan: Plan, run: RunRecord, now: int, span: StepSpan | None, force_plan: bool
    ) -> None:
        # A signal is matched by its name alone: the pause's event name holds it.
        signal = str(op.opts.get("signal") or op.name)
        expires = now + timeout_ms(op.opts.get("timeout"), default_ms=DEFAULT_INVOKE_TIMEOUT_MS)
        pause = Pause(
            pause_id=pause_id(PauseKind.SIGNAL, run.run_id, op.id),
            run_id=run.run_id,
            step_hash=op.id,
            kind=PauseKind.SIGNAL,
            event_name=signal,
            expires_at=expires,
        )
        # Without ``conflict`` (an SDK that does not send it) a signal has one waiter, as in
        # Inngest: a second wait fails.
        conflict = str(op.opts.get("conflict") or "fail")
        problem = await self._planner.claim_signal(pause, conflict, plan, now)
        if problem is not None:
            self._failed_at_once(
                plan, run, op, span, now, "SignalConflictError", problem, force_plan
            )
            return
        self._pause(plan, span, pause, force_plan)

    def _failed_at_once(
        self,
        plan: Plan,
        run: RunRecord,
        op: Op,
        span: StepSpan | None,
        now: int,
        name: str,
        message: str,
        force_plan: bool,
    ) -> None:
        """The step fails without waiting (the code may catch it) and the run goes on, still
        planning if the op came beside other parallel work (§5.6): Inngest ends an invoke of
        an unknown function through its pause, with the ``function.finished`` it emits, and
        its run's ForceStepPlan outlives that as it outlives any wait."""
        error = error_payload(name, message)
        plan.changes.steps.append(StepRow(run.run_id, op.id, wrap_error(error)))
        if span is not None:
            span.error = error
        self._ended_at_once(plan, span, now, SpanStatus.FAILED)
        self._lease.run_on(plan, run.run_id, now, force_plan=force_plan)

    async def _invoke(
        self, op: Op, plan: Plan, run: RunRecord, now: int, span: StepSpan | None, force_plan: bool
    ) -> None:
        """Wait for the child's ``function.finished`` and emit ``function.invoked`` (§5.12)."""
        target = str(op.opts.get("function_id", ""))
        if span is not None:
            span.detail = {"function_id": target}
        if self._registry.get(target) is None:
            message = f"could not find function with ID: {target}"
            self._failed_at_once(plan, run, op, span, now, "Error", message, force_plan)
            return
        correlation = f"{run.run_id}.{op.id}"
        expires = now + timeout_ms(op.opts.get("timeout"), default_ms=DEFAULT_INVOKE_TIMEOUT_MS)
        self._pause(
            plan,
            span,
            Pause(
                pause_id=pause_id(PauseKind.INVOKE, run.run_id, op.id),
                run_id=run.run_id,
                step_hash=op.id,
                kind=PauseKind.INVOKE,
                event_name=names.FUNCTION_FINISHED,
                expires_at=expires,
                correlation_id=correlation,
            ),
            force_plan,
        )
        payload = op.opts.get("payload") or {}
        data = dict(payload.get("data") or {})
        data["_inngest"] = {
            "fn_id": target,
            "correlation_id": correlation,
            "source_app_id": run.app_id,
            "source_fn_id": run.function_id,
            "expire": expires,
            "name": op.name,
        }
        invoked = system_event(names.FUNCTION_INVOKED, data, now)
        invoked.event.v = payload.get("v")
        plan.follow_events.append(invoked)

    @staticmethod
    def _ended_at_once(
        plan: Plan, span: StepSpan | None, now: int, status: SpanStatus = SpanStatus.COMPLETED
    ) -> None:
        """A wait that had its value at once (lookback, an unknown invoke target)."""
        if span is not None:
            span.status = status
            span.ended_at = now
            plan.changes.spans.append(span)

    @staticmethod
    def _pause(plan: Plan, span: StepSpan | None, pause: Pause, force_plan: bool = False) -> None:
        """A pause and the item that ends it when it expires (value ``null`` or a timeout).
        That item also says whether the run plans on after the wait, however it ends (a
        wait beside other parallel work, §5.6): a timeout reads it as it fires, an event or a
        signal that resumes the pause as it removes it."""
        if span is not None:
            # What the trace shows of the wait: what it waits for, and until when.
            waited = "signal" if pause.kind is PauseKind.SIGNAL else "event"
            span.detail = {
                **(span.detail or {}),
                waited: pause.event_name,
                "if": pause.expression,
                "timeout_at": pause.expires_at,
            }
        plan.changes.pauses.append(pause)
        payload = span_payload(span) if span is not None else None
        if force_plan:
            payload = {**(payload or {}), FORCE_PLAN_KEY: True}
        plan.changes.items.append(
            QueueItem(
                item_id=pause_timeout_item_id(pause.run_id, pause.step_hash),
                run_id=pause.run_id,
                kind=ItemKind.PAUSE_TIMEOUT,
                due_at=pause.expires_at,
                step_hash=pause.step_hash,
                pause_id=pause.pause_id,
                payload=payload,
            )
        )
        if span is not None:
            plan.changes.spans.append(span)
