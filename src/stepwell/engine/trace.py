"""The run's trace: one ``StepSpan`` per attempt of each step, written with the step itself.

A span ends when its result reached the engine. It begins when the step's work began, if its
runner measured that (our SDK in process; the HTTP driver's targeted call of a parallel step),
so steps that ran side by side overlap; otherwise at the execution's last boundary (the call
began, or the previous step was stored): for an SDK that reports one step per call, that is
the step's call.
A sleep, wait, invoke or signal is written ``WAITING`` when it begins; its timer item carries
the span, so whichever ends the wait (its event, its timeout, the sleep's end) closes it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
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


_FAILED = frozenset({SpanStatus.FAILED, SpanStatus.ERRORED})


@dataclass(slots=True)
class ExecutionClock:
    """When the execution began, where its last step ended, and the queue delay not yet
    reported."""

    boundary: int
    """When the execution began, then when its last step ended."""
    queued_ms: int
    """How late the execution began; reported on its first span only, then 0."""
    began: int = -1
    """When the execution began (no step of it started earlier)."""

    def __post_init__(self) -> None:
        if self.began < 0:
            self.began = self.boundary

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
        """A span for ``op`` ending now: from when it began if its runner measured that,
        else from the last boundary (None for ops that are not steps)."""
        kind = SPAN_KINDS.get(op.op)
        if kind is None or not op.id:
            return None
        queued, self.queued_ms = self.queued_ms, 0
        if op.duration_ms is not None and ended:
            started = max(self.began, now_ms - op.duration_ms)
        else:
            started = self.boundary if self.boundary < now_ms else now_ms
        if ended:
            self.boundary = now_ms
        # Positional: this runs for every step, and keywords cost more than they say here.
        return StepSpan(
            run_id,
            op.id,
            op.display_name or op.name or op.id,  # as the user wrote it, else its hash
            kind,
            attempt,
            status,
            started,
            now_ms if ended else None,
            queued,
            op.error if status in _FAILED else None,
        )


_SPAN_FIELDS = tuple(f.name for f in fields(StepSpan))


def span_payload(span: StepSpan) -> dict[str, Any]:
    """A waiting span as its timer item carries it (JSON)."""
    # Field by field, not dataclasses.asdict (which deep-copies through every field, on
    # every sleep; deepcopy was 9% of a busy loop's time): the payload gets dicts of its own,
    # and nothing changes what is inside them.
    payload: dict[str, Any] = {}
    for name in _SPAN_FIELDS:
        value = getattr(span, name)
        payload[name] = dict(value) if isinstance(value, dict) else value
    return {SPAN_PAYLOAD_KEY: payload}


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
    end_wait(span, now_ms)
    return span


def end_wait(span: StepSpan, now_ms: int) -> None:
    """A waiting span's end, however the wait ended (a value, a timeout, replaced)."""
    span.status = SpanStatus.COMPLETED
    span.ended_at = max(now_ms, span.started_at)
