"""Run traces for the GraphQL API: a root span for the run, one child span per step.

Steps come from the run's memo, in the order their results were stored; their names, kinds,
attempts and times from the run's spans (``History.run_trace``), kept in the database with
the run, so a trace reads the same after a restart. Run metadata goes on the spans it is aimed
at (``gql_metadata``). Output ids are
``<runId>`` for the run and ``<runId>:<hashed step id>`` for a step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stepwell.core.memo import decode_memo
from stepwell.core.runs import RunStatus
from stepwell.ports.records import RunRecord, SpanStatus, StepSpan
from stepwell.server.gql_metadata import span_metadata
from stepwell.server.gql_nodes import GqlError, function_uuid, run_status, time_out, to_json
from stepwell.server.runtime import ServerRuntime


@dataclass(slots=True)
class SpanNode:
    runID: str
    spanID: str
    name: str
    status: str
    functionID: str
    appID: str | None
    queuedAt: str | None
    outputID: str | None = None
    attempts: int | None = None
    duration: int | None = None
    startedAt: str | None = None
    endedAt: str | None = None
    stepOp: str | None = None
    stepID: str | None = None
    stepType: str | None = None
    isRoot: bool = False
    parentSpanID: str | None = None
    isUserland: bool = False
    childrenSpans: list[SpanNode] = field(default_factory=list)
    metadata: list[dict[str, Any]] = field(default_factory=list)

    @property
    def traceID(self) -> str:
        return self.runID


def _guess_op(value: Any) -> str | None:
    """A step's kind from its stored value alone (for steps with no span: stored before
    spans were kept, or copied into a rerun)."""
    if isinstance(value, dict) and value and set(value) <= {"data", "error"}:
        return "RUN"
    if isinstance(value, dict) and "name" in value and "data" in value:
        return "WAIT_FOR_EVENT"  # a matched event is stored bare (§5.4)
    return None


@dataclass(slots=True)
class _Attempts:
    """The spans of one step, in the order of ``History.run_trace``."""

    spans: list[StepSpan]

    @property
    def last(self) -> StepSpan:
        return self.spans[-1]

    @property
    def failed(self) -> int:
        return sum(span.status in (SpanStatus.ERRORED, SpanStatus.FAILED) for span in self.spans)

    def pending_status(self) -> str | None:
        """The status of a step with no stored result yet, if it is worth showing."""
        if self.last.status is SpanStatus.WAITING:
            return "WAITING"
        if self.last.status is SpanStatus.ERRORED:
            return "RUNNING"  # waiting for its next attempt
        return None


def _by_step(spans: list[StepSpan]) -> dict[str, _Attempts]:
    steps: dict[str, _Attempts] = {}
    for span in spans:
        steps.setdefault(span.step_hash, _Attempts([])).spans.append(span)
    return steps


async def build_trace(runtime: ServerRuntime, run: RunRecord) -> SpanNode:
    history = runtime.engine.history
    memo = await history.load_memo(run.run_id)
    steps = _by_step(await history.run_trace(run.run_id))
    spec = runtime.engine.registry.get(run.function_id)
    app = runtime.catalog.get(run.app_id)
    root = SpanNode(
        runID=run.run_id,
        spanID=run.run_id,
        name=spec.name if spec is not None else run.function_id,
        status=run_status(run.status),
        functionID=function_uuid(run.function_id),
        appID=app.app_uuid if app is not None else None,
        queuedAt=time_out(run.created_at),
        startedAt=time_out(run.started_at),
        endedAt=time_out(run.ended_at),
        outputID=run.run_id if run.status.is_terminal else None,
        isRoot=True,
    )
    if run.started_at is not None and run.ended_at is not None:
        root.duration = run.ended_at - run.started_at

    def child(step_hash: str, status: str, seen: _Attempts | None) -> SpanNode:
        span = SpanNode(
            runID=run.run_id,
            spanID=f"{run.run_id}:{step_hash}",
            name=seen.last.name if seen is not None else step_hash,
            status=status,
            functionID=root.functionID,
            appID=root.appID,
            queuedAt=root.queuedAt,
            stepID=step_hash,
            parentSpanID=root.spanID,
        )
        if seen is not None:
            span.stepOp = span.stepType = seen.last.kind.value
            started, ended = seen.spans[0].started_at, seen.last.ended_at
            span.startedAt, span.endedAt = time_out(started), time_out(ended)
            span.duration = ended - started if ended is not None else None
        return span

    for step_hash, value in memo.items():
        seen = steps.get(step_hash)
        failed = decode_memo(value).failed
        span = child(step_hash, "FAILED" if failed else "COMPLETED", seen)
        span.outputID = f"{run.run_id}:{step_hash}"
        if seen is None:
            span.stepOp = span.stepType = _guess_op(value)
        else:
            # As Inngest reports it: the number of the step's last attempt, counting from 0
            # (its retries), not how many tries it took.
            span.attempts = max(0, seen.failed - (1 if failed else 0))
        root.childrenSpans.append(span)
    if not run.status.is_terminal:
        for step_hash, seen in steps.items():
            status = seen.pending_status()
            if step_hash in memo or status is None:
                continue
            span = child(step_hash, status, seen)
            span.attempts = seen.failed or None
            root.childrenSpans.append(span)
    if run.status is RunStatus.CANCELLED:
        for span in root.childrenSpans:
            if span.status in ("WAITING", "RUNNING", "QUEUED"):
                span.status = "CANCELLED"
    metadata = span_metadata(await runtime.engine.lifecycle.metadata.of_run(run.run_id))
    root.metadata = metadata.get(None, [])
    for span in root.childrenSpans:
        span.metadata = metadata.get(span.stepID, [])
    return root


def _error(raw: dict[str, Any]) -> dict[str, Any]:
    stack = raw.get("stack")
    cause = raw.get("cause")
    return {
        "name": str(raw.get("name") or "Error"),
        "message": str(raw.get("message") or raw.get("error") or ""),
        "stack": stack if isinstance(stack, str) else None,
        "cause": to_json(cause) if cause is not None else None,
    }


async def span_output(runtime: ServerRuntime, output_id: str) -> dict[str, Any]:
    """``RunTraceSpanOutput`` for an output id of ``build_trace``."""
    run_id, has_step, step_hash = output_id.partition(":")
    run = await runtime.engine.get_run(run_id) if run_id else None
    if run is None:
        raise GqlError(f"no output with id {output_id!r}: no run {run_id!r}")
    if not has_step:
        if run.error is not None:
            return {"input": None, "data": None, "error": _error(run.error)}
        if not run.status.is_terminal:
            raise GqlError(f"run {run_id} has not ended: it has no output yet")
        return {"input": None, "data": to_json(run.output), "error": None}
    memo = await runtime.engine.history.load_memo(run_id)
    if step_hash not in memo:
        raise GqlError(f"no output with id {output_id!r}: run {run_id} has no step {step_hash!r}")
    decoded = decode_memo(memo[step_hash])
    if decoded.error is not None:
        return {"input": None, "data": None, "error": _error(decoded.error)}
    return {"input": None, "data": to_json(decoded.value), "error": None}
