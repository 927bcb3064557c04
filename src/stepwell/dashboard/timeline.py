"""A run's waterfall: one row a step, under the name written in the code, with every attempt.

Rows come from the run's spans (``History.run_trace``: names, kinds, attempts, start and end,
queue delay, errors) and its memo (``History.load_memo``: what each step stored, which also
tells a ``step.run`` that sent events, a fetch, or steps copied into a rerun and never run
here). Bars are placed in percent of the run's span of time, so steps that ran in parallel
overlap. An attempt's queue delay is a separate, lighter segment before it ("queued", then
"running"), as Inngest draws them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stepwell.core.memo import decode_memo
from stepwell.ports.history import History
from stepwell.ports.records import RunRecord, SpanKind, SpanStatus, StepSpan

KIND_WORDS = {
    SpanKind.RUN: "run",
    SpanKind.SLEEP: "sleep",
    SpanKind.WAIT_FOR_EVENT: "wait for event",
    SpanKind.INVOKE: "invoke",
    SpanKind.WAIT_FOR_SIGNAL: "signal",
    SpanKind.AI_GATEWAY: "AI",
}
STATUS_WORDS = {
    SpanStatus.COMPLETED: "Completed",
    SpanStatus.FAILED: "Failed",
    SpanStatus.ERRORED: "Retrying",
    SpanStatus.WAITING: "Waiting",
}


@dataclass(slots=True)
class Segment:
    left: float
    width: float
    css: str
    label: str


@dataclass(slots=True)
class Attempt:
    number: int
    status: str
    started_at: int
    ended_at: int | None
    queued_ms: int
    error: dict[str, Any] | None

    @property
    def duration_ms(self) -> int | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(slots=True)
class Row:
    step_hash: str
    name: str
    kind: str
    status: str
    stored: bool
    """Whether its result is in the memo (a step a rerun can start from)."""
    start_ms: int | None = None
    """From the run's start."""
    duration_ms: int | None = None
    queued_ms: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    output: Any = None
    error: dict[str, Any] | None = None
    links: list[tuple[str, str]] = field(default_factory=list)
    """(label, href): a wait's event, an invoked run, events a step sent."""
    note: str = ""
    waited: dict[str, Any] = field(default_factory=dict)
    """What a wait waited for (``StepSpan.detail``): ``wake_at``, ``event``, ``signal``,
    ``if``, ``timeout_at``, ``function_id``."""

    @property
    def css(self) -> str:
        return self.status.lower()


@dataclass(slots=True)
class Timeline:
    rows: list[Row]
    start: int
    total_ms: int
    ticks: list[tuple[float, int]]


def _kind(spans: list[StepSpan] | None, value: Any) -> str:
    if spans:
        return KIND_WORDS.get(spans[-1].kind, spans[-1].kind.value.lower())
    if isinstance(value, dict) and "name" in value and "data" in value:
        return "wait for event"  # a matched event is stored bare
    return "run"


def _sent_ids(value: Any) -> list[str]:
    """Event ids a ``send_event`` step stored (ours: a list; Inngest's: ``{"ids": [...]}``)."""
    data = decode_memo(value).value
    if isinstance(data, dict) and set(data) == {"ids"}:
        data = data["ids"]
    if isinstance(data, list) and data and all(isinstance(i, str) and len(i) == 26 for i in data):
        return list(data)
    return []


def _is_fetch(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and {"headers", "body"} <= set(data)
        and ("status" in data or "status_code" in data)
    )


def _ticks(total_ms: int) -> list[tuple[float, int]]:
    return [(i * 25.0, total_ms * i // 4) for i in range(5)]


async def build_timeline(history: History, run: RunRecord, now_ms: int) -> Timeline:
    memo = await history.load_memo(run.run_id)
    by_step: dict[str, list[StepSpan]] = {}
    for span in await history.run_trace(run.run_id):
        by_step.setdefault(span.step_hash, []).append(span)
    start = run.started_at or run.created_at
    first = min((s[0].started_at - s[0].queued_ms for s in by_step.values()), default=start)
    start = min(start, first)
    end = run.ended_at or now_ms
    ends = [s.ended_at or now_ms for spans in by_step.values() for s in spans]
    total = max(1, max([end, *ends]) - start)

    def pct(ms: int) -> float:
        return round(max(0.0, min(100.0, (ms - start) * 100 / total)), 3)

    rows: list[Row] = []
    # Copied into a rerun: stored results with no span of this run.
    for step_hash, value in memo.items():
        if step_hash not in by_step:
            decoded = decode_memo(value)
            rows.append(
                Row(
                    step_hash,
                    step_hash[:12],
                    _kind(None, value),
                    "Completed",
                    True,
                    output=decoded.value,
                    error=decoded.error,
                    note="result kept from the run this one reran",
                )
            )
    for step_hash, spans in by_step.items():
        last = spans[-1]
        stored = step_hash in memo
        status = STATUS_WORDS.get(last.status, last.status.value.title())
        if not stored and last.status is SpanStatus.ERRORED:
            status = "Retrying"
        if run.status.is_terminal and status in ("Waiting", "Retrying"):
            status = "Cancelled" if run.status.value == "Cancelled" else status
        row = Row(step_hash, last.name, _kind(spans, memo.get(step_hash)), status, stored)
        row.start_ms = spans[0].started_at - start
        ended = last.ended_at
        row.duration_ms = (ended - spans[0].started_at) if ended is not None else None
        row.queued_ms = spans[0].queued_ms
        for span in spans:
            row.attempts.append(
                Attempt(
                    span.attempt + 1,
                    STATUS_WORDS.get(span.status, span.status.value),
                    span.started_at,
                    span.ended_at,
                    span.queued_ms,
                    span.error,
                )
            )
            running_end = span.ended_at or (
                now_ms if not run.status.is_terminal else (run.ended_at or now_ms)
            )
            if span.queued_ms > 0:
                q0 = pct(span.started_at - span.queued_ms)
                row.segments.append(
                    Segment(
                        q0,
                        max(0.3, pct(span.started_at) - q0),
                        "queued",
                        f"queued {span.queued_ms} ms",
                    )
                )
            r0 = pct(span.started_at)
            css = {"ERRORED": "errored", "FAILED": "failed", "WAITING": "waiting"}.get(
                span.status.value, "running"
            )
            row.segments.append(
                Segment(r0, max(0.3, pct(running_end) - r0), css, f"attempt {span.attempt + 1}")
            )
        if stored:
            decoded = decode_memo(memo[step_hash])
            row.output, row.error = decoded.value, decoded.error
        elif last.error is not None:
            row.error = last.error
        _describe(row, last, memo.get(step_hash))
        rows.append(row)
    await _link(history, run, rows, memo)
    return Timeline(rows=rows, start=start, total_ms=total, ticks=_ticks(total))


def _describe(row: Row, last: StepSpan, value: Any) -> None:
    row.waited = {k: v for k, v in (last.detail or {}).items() if v not in (None, "")}
    if row.kind == "sleep":
        row.note = "woke" if last.ended_at is not None else "sleeping"
    elif row.kind == "wait for event":
        if last.ended_at is not None and row.output is None and row.stored:
            row.note = "timed out: no event came"
        elif not row.stored:
            row.note = "waiting for an event"
    elif row.kind == "run" and _is_fetch(row.output):
        row.kind = "fetch"


async def _link(history: History, run: RunRecord, rows: list[Row], memo: dict[str, Any]) -> None:
    for row in rows:
        if row.kind == "wait for event" and isinstance(row.output, dict) and row.output.get("id"):
            row.links.append((f"event {row.output.get('name', '')}", f"/events/{row.output['id']}"))
    # step.run rows whose result is the ids of events this run sent are send_event steps.
    for row in rows:
        ids = _sent_ids(memo[row.step_hash]) if row.kind == "run" and row.stored else []
        if ids and len(await history.get_events(ids)) == len(ids):
            row.kind = "send event"
            row.links.extend((f"event {i}", f"/events/{i}") for i in ids)
    invokes = {f"{run.run_id}.{row.step_hash}": row for row in rows if row.kind == "invoke"}
    if invokes:
        for child in await history.correlated_runs(list(invokes), run.created_at):
            row = invokes[child.correlation_id or ""]
            row.links.append(
                (f"run {child.run_id} ({child.status.value})", f"/runs/{child.run_id}")
            )
