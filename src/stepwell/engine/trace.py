"""The run's trace: one ``StepSpan`` per attempt of each step, written with the step itself.

A span is timed from the execution's last boundary (the call began, or the previous step was
stored) to the moment its result reached the engine: for an SDK that reports one step per call
that is the step's call; for steps reported mid-call it is the time since the previous one.
A sleep, wait, invoke or signal is written ``WAITING`` when it begins; its timer item carries
the span, so whichever ends the wait (its event, its timeout, the sleep's end) closes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from stepwell.ports.records import SpanKind, SpanStatus, StepSpan
from stepwell.protocol.ops import Op, Opcode

SPAN_KINDS: dict[Opcode, SpanKind] = {
    Opcode.STEP: SpanKind.RUN,
    Opcode.STEP_RUN: SpanKind.RUN,
    Opcode.STEP_ERROR: SpanKind.RUN,
    Opcode.STEP_FAILED: SpanKind.RUN,
    Opcode.GATEWAY: SpanKind.RUN,
    Opcode.AI_GATEWAY: SpanKind.AI_GATEWAY,
    Opcode.SLEEP: SpanKind.SLEEP,
    Opcode.WAIT_FOR_EVENT: SpanKind.WAIT_FOR_EVENT,
    Opcode.INVOKE_FUNCTION: SpanKind.INVOKE,
    Opcode.WAIT_FOR_SIGNAL: SpanKind.WAIT_FOR_SIGNAL,
}
"""What each opcode a step is reported with shows as (planned steps show when they end)."""

SPAN_PAYLOAD_KEY = "span"


def step_name(op: Op) -> str:
    """The step's id as the user wrote it, when the SDK says; else its hashed id."""
    return op.display_name or op.name or op.id


@dataclass(slots=True)
class ExecutionClock:
    """When the execution began, how late that was, and where its last step ended."""

    started_at: int
    queued_ms: int
    boundary: int = 0
    queue_delay_reported: bool = False

    def __post_init__(self) -> None:
        self.boundary = self.started_at

    def span(
        self,
        op: Op,
        *,
        run_id: str,
        attempt: int,
        status: SpanStatus,
        now_ms: int,
        ended: bool = True,
    ) -> StepSpan | None:
        """A span for ``op`` from the last boundary to now (None for ops that are not steps)."""
        kind = SPAN_KINDS.get(op.op)
        if kind is None or not op.id:
            return None
        queued = 0 if self.queue_delay_reported else self.queued_ms
        self.queue_delay_reported = True
        span = StepSpan(
            run_id=run_id,
            step_hash=op.id,
            name=step_name(op),
            kind=kind,
            attempt=attempt,
            status=status,
            started_at=min(self.boundary, now_ms),
            ended_at=now_ms if ended else None,
            queued_ms=queued,
            error=op.error if status in (SpanStatus.FAILED, SpanStatus.ERRORED) else None,
        )
        if ended:
            self.boundary = now_ms
        return span


def span_payload(span: StepSpan) -> dict[str, Any]:
    """A waiting span as its timer item carries it (JSON)."""
    return {SPAN_PAYLOAD_KEY: asdict(span)}


def closed_span(payload: dict[str, Any] | None, now_ms: int) -> StepSpan | None:
    """The waiting span a timer item carried, ended now (None if it carried none)."""
    raw = (payload or {}).get(SPAN_PAYLOAD_KEY)
    if not isinstance(raw, dict):
        return None
    try:
        span = StepSpan(**raw)
        span.kind = SpanKind(span.kind)
    except (TypeError, ValueError):
        return None  # written by another version: the trace loses the end, nothing else
    span.status = SpanStatus.COMPLETED
    span.ended_at = max(now_ms, span.started_at)
    return span
