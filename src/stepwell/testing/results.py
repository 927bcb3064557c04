"""What a test reads of a run: its status, output or error, and every step it took."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stepwell.core.memo import decode_memo
from stepwell.core.runs import RunStatus
from stepwell.ports.history import History
from stepwell.ports.records import RunRecord, SpanStatus, StepSpan


@dataclass(frozen=True, slots=True)
class StepResult:
    """One step of a run: its stored result, or its error, and how many attempts it took."""

    id: str
    """The step's id as written in the code (a repeat is ``"id:1"``)."""
    kind: str
    """``RUN``, ``SLEEP``, ``WAIT_FOR_EVENT``, ``INVOKE``, ``WAIT_FOR_SIGNAL``, ``AI_GATEWAY``
    (a stubbed step shows as ``RUN``: its value was given, not waited for)."""
    status: str
    """``COMPLETED``, ``FAILED`` (for good), ``ERRORED`` (its last attempt failed, another is
    due) or ``WAITING``."""
    output: Any = None
    """The stored result (JSON): a step's return value, the matched event as a dict, None."""
    error: dict[str, Any] | None = None
    """The final error (``name``, ``message``…) of a step that failed for good; else, for a
    step whose last attempt failed, that attempt's error."""
    attempts: int = 0
    """Attempts made: 1 for a step that worked at once, 3 after two failures."""
    errors: tuple[dict[str, Any], ...] = ()
    """The error of every failed attempt, in order."""


@dataclass(frozen=True, slots=True)
class RunResult:
    """A run as stored, with its steps by id."""

    run: RunRecord
    steps: dict[str, StepResult] = field(default_factory=dict)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def status(self) -> RunStatus:
        """A ``RunStatus`` (a ``str``: ``result.status == "Completed"`` holds)."""
        return self.run.status

    @property
    def output(self) -> Any:
        """The function's return value as stored (JSON)."""
        return self.run.output

    @property
    def error(self) -> dict[str, Any] | None:
        return self.run.error


def _step(name: str, spans: list[StepSpan], memo: dict[str, Any]) -> StepResult:
    last = spans[-1]
    errors = tuple(s.error for s in spans if s.error is not None)
    stored = memo.get(last.step_hash)
    output: Any = None
    error = errors[-1] if last.status in (SpanStatus.ERRORED, SpanStatus.FAILED) else None
    if last.step_hash in memo:
        decoded = decode_memo(stored)
        output, error = decoded.value, decoded.error or error
    return StepResult(
        id=name,
        kind=last.kind.value,
        status=last.status.value,
        output=output,
        error=error,
        attempts=len({s.attempt for s in spans}),
        errors=errors,
    )


async def read_result(history: History, run: RunRecord) -> RunResult:
    trace = await history.run_trace(run.run_id)
    memo = await history.load_memo(run.run_id)
    by_name: dict[str, list[StepSpan]] = {}
    for span in sorted(trace, key=lambda s: (s.started_at, s.attempt)):
        by_name.setdefault(span.name, []).append(span)
    steps = {name: _step(name, spans, memo) for name, spans in by_name.items()}
    return RunResult(run, steps)


def holds(result: RunResult, waiting_for: str | None, step: str | None, status: Any) -> bool:
    if status is not None and result.status != status:
        return False
    if waiting_for is not None:
        found = result.steps.get(waiting_for)
        if found is None or found.status != SpanStatus.WAITING.value:
            return False
    if step is not None:
        found = result.steps.get(step)
        done = (SpanStatus.COMPLETED.value, SpanStatus.FAILED.value)
        if found is None or found.status not in done:
            return False
    return True


def wanted(waiting_for: str | None, step: str | None, status: Any) -> str:
    parts = [f"waiting for {waiting_for!r}"] if waiting_for else []
    parts += [f"step {step!r} stored"] if step else []
    parts += [f"status {status}"] if status is not None else []
    return " and ".join(parts) or "the condition"


def describe(result: RunResult) -> str:
    waiting = [f"{s.kind} {s.id!r}" for s in result.steps.values() if s.status == "WAITING"]
    done = [f"{s.id!r} {s.status}" for s in result.steps.values() if s.status != "WAITING"]
    text = f"{result.status.value}"
    if waiting:
        text += f", waiting on {', '.join(waiting)}"
    if done:
        text += f"; steps: {', '.join(done)}"
    if result.error:
        text += f"; error: {result.error.get('name')}: {result.error.get('message')}"
    return text
