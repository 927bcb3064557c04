"""Durable endpoints: HTTP handlers wrapped by an SDK that run their steps inline and report
them afterwards (the TS SDK's sync step mode; protocol.md §5.11, "Other checkpoint endpoints").

The handler's own request creates the run (``start``) and checkpoints each step as it ends
(``record``). It returns ``RunComplete`` when it finishes in the request; any other op (a sleep,
a wait, a retriable error, the SDK's time budget running out) means the rest of the run goes on
asynchronously: the run gets an execute item, and the engine calls the endpoint back like any
function served over HTTP (the SDK replays the stored steps and reports what is next).

The function is made from the request when an endpoint is hit: its app is the request's
origin, its id the SDK's function id (or ``"<METHOD> <path>"``), its URL origin+path. No sync
declares it, so it is stored (``EndpointStore``) before its run is: a process that did not
see the request (a restart, another server on the database) finds it there to call it back.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from stepwell.core.ids import new_ulid
from stepwell.core.memo import wrap_data, wrap_error
from stepwell.core.runs import RunStatus
from stepwell.engine.committer import Committer
from stepwell.engine.endings import UNENDED, finish_run
from stepwell.engine.plan import Lease, Plan
from stepwell.engine.registry import FunctionSpec, Registry
from stepwell.engine.run_metadata import plan_op_metadata
from stepwell.ports.clock import Clock
from stepwell.ports.records import (
    EndpointRecord,
    NewRun,
    RunRecord,
    SpanKind,
    SpanStatus,
    StepRow,
    StepSpan,
    StoredEvent,
)
from stepwell.ports.store import EndpointStore, EngineStore
from stepwell.protocol.events import Event
from stepwell.protocol.ops import Op, Opcode

HTTP_REQUEST_EVENT = "inngest/http.request"
MAX_ENDPOINT_RETRIES = 20

_SETTLED = frozenset({Opcode.STEP_RUN, Opcode.STEP, Opcode.STEP_FAILED})


def _settled(steps: list[Op]) -> list[Op]:
    return [op for op in steps if op.op in _SETTLED]


class EndpointRefused(ValueError):
    """The request cannot be taken as it is; the message says what was wrong (a 4xx)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class EndpointRun:
    """What the SDK is told about a run it created or checkpointed."""

    run_id: str
    spec: FunctionSpec
    asynchronous: bool
    """The run goes on outside the handler's request (an execute item is due)."""


def endpoint_function(data: dict[str, Any], retries: int) -> FunctionSpec:
    """The function an ``inngest/http.request`` event's data describes."""
    domain = _text(data, "domain")
    path = _text(data, "path") or "/"
    if not domain.startswith(("http://", "https://")):
        raise EndpointRefused(400, "event.data.domain: expected the origin, as http(s)://host")
    if not path.startswith("/"):
        raise EndpointRefused(400, "event.data.path: expected a path starting with '/'")
    method = _text(data, "method").upper() or "POST"
    slug = _text(data, "fn").strip("-") or f"{method} {path}"
    return _spec(slug, domain, domain + path, retries, method, path)


def _spec(slug: str, app_id: str, url: str, retries: int, method: str, path: str) -> FunctionSpec:
    return FunctionSpec(
        app_id=app_id,
        local_id=slug,
        name=slug,
        full_slug=slug,
        url=url,
        retries=max(0, min(retries, MAX_ENDPOINT_RETRIES)),
        config={"durable_endpoint": {"method": method, "path": path}},
    )


def spec_of(record: EndpointRecord) -> FunctionSpec:
    """The function a stored endpoint stands for."""
    return _spec(record.slug, record.app_id, record.url, record.retries, record.method, record.path)


def _record(spec: FunctionSpec, now: int) -> EndpointRecord:
    where = spec.config["durable_endpoint"]
    return EndpointRecord(
        slug=spec.slug,
        app_id=spec.app_id,
        url=spec.url or "",
        retries=spec.retries,
        method=str(where["method"]),
        path=str(where["path"]),
        saved_at=now,
    )


def _served_as(spec: FunctionSpec) -> tuple[object, ...]:
    return spec.app_id, spec.url, spec.retries, spec.config.get("durable_endpoint")


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


class RunTokens:
    """Tokens that grant reading one run's output (the redirect the SDK hands its caller)."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(f"stepwell:run-token:{secret}".encode()).digest()

    def issue(self, run_id: str, purpose: str = "output") -> str:
        mac = hmac.new(self._key, f"{purpose}:{run_id}".encode(), hashlib.sha256)
        return f"{run_id}.{mac.hexdigest()[:40]}"

    def verify(self, token: str, purpose: str = "output") -> str | None:
        """The run the token is for, or None if it is not one of ours."""
        run_id, _, _ = token.partition(".")
        if not run_id or not hmac.compare_digest(self.issue(run_id, purpose), token):
            return None
        return run_id


class DurableEndpoints:
    def __init__(
        self,
        *,
        store: EngineStore,
        endpoints: EndpointStore,
        registry: Registry,
        committer: Committer,
        lease: Lease,
        clock: Clock,
    ) -> None:
        self._store = store
        self._endpoints = endpoints
        self._registry = registry
        self._commit = committer.commit
        self._lease = lease
        self._clock = clock

    async def load(self) -> None:
        """Register the stored endpoints (at start, after the synced apps: a synced app's
        function keeps its slug)."""
        for record in await self._endpoints.list_endpoints():
            self._take(spec_of(record), quiet=True)

    async def find(self, slug: str) -> FunctionSpec | None:
        """The function of that slug: a synced one, or a durable endpoint as last stored (by
        any process, before a restart too: the endpoint may have been served again since,
        from elsewhere)."""
        known = self._registry.get(slug)
        if known is not None and known.config.get("durable_endpoint") is None:
            return known
        record = await self._endpoints.get_endpoint(slug)
        return known if record is None else self._take(spec_of(record), quiet=True)

    def _take(self, spec: FunctionSpec, *, quiet: bool = False) -> FunctionSpec | None:
        """Register ``spec``, or update the endpoint registered under its slug. When a synced
        app's function holds the slug: None if ``quiet``, else a 409."""
        known = self._registry.get(spec.slug)
        if known is None:
            self._registry.add(spec)
            return spec
        if known.config.get("durable_endpoint") is None:
            if quiet:
                return None
            raise EndpointRefused(
                409, f"function {spec.slug!r} is a synced app's function, not a durable endpoint"
            )
        # The endpoint as last served.
        known.app_id, known.url, known.retries = spec.app_id, spec.url, spec.retries
        known.config = spec.config
        return known

    async def _register(self, spec: FunctionSpec) -> FunctionSpec:
        known = self._registry.get(spec.slug)
        if known is not None and _served_as(known) == _served_as(spec):
            return known
        if known is not None and known.config.get("durable_endpoint") is None:
            self._take(spec)  # a synced app's slug: refused before anything is stored
        # Stored before its run is, so that whoever executes the run can call it back.
        await self._endpoints.save_endpoint(_record(spec, self._clock.now_ms()))
        return self._take(spec) or spec

    async def start(
        self, run_id: str, event: dict[str, Any], steps: list[Op], retries: int
    ) -> EndpointRun:
        """Create the run a handler's request began, with the steps it already ran."""
        data = event.get("data")
        if not isinstance(data, dict):
            raise EndpointRefused(400, "event.data: expected an object")
        spec = await self._register(endpoint_function(data, retries))
        if await self._store.get_run(run_id) is not None:
            raise EndpointRefused(409, f"run {run_id} already exists")
        now = self._clock.now_ms()
        ts = event.get("ts")
        stored = StoredEvent(
            internal_id=new_ulid(),
            received_at=now,
            event=Event(
                name=HTTP_REQUEST_EVENT,
                data=dict(data),
                ts=ts if isinstance(ts, int) and not isinstance(ts, bool) else now,
            ),
        )
        run = RunRecord(
            run_id=run_id,
            app_id=spec.app_id,
            function_id=spec.slug,
            status=RunStatus.RUNNING,
            event_ids=[stored.internal_id],
            created_at=now,
            started_at=now,
        )
        steps, completion = _completion_apart(steps)
        went_async = [False]

        async def build() -> Plan:
            plan = Plan()
            plan.changes.events.append(stored)
            plan.changes.runs.append(NewRun(record=run))
            went_async[0] = self._apply(plan, run, [stored.to_wire()], steps, now)
            await plan_op_metadata(self._store, plan, run_id, _settled(steps), 0, now)
            return plan

        await self._commit(build)
        if completion:  # as in ``record``: the result after the steps beside it
            return await self.record(run_id, completion)
        return EndpointRun(run_id, spec, went_async[0])

    async def record(self, run_id: str, steps: list[Op]) -> EndpointRun:
        """Steps a handler ran after its run was created."""
        steps, completion = _completion_apart(steps)
        if completion:
            # The store refuses a step for a run that has ended, and ends runs first in a
            # commit: steps reported beside the result go in one commit, the result in the next.
            await self.record(run_id, steps)
            steps = completion
        went_async = [False]
        found: list[FunctionSpec] = []

        async def build() -> Plan:
            found.clear()
            plan = Plan()
            run = await self._store.get_run(run_id)
            if run is None:
                raise EndpointRefused(404, f"run {run_id} not found")
            spec = await self.find(run.function_id)
            if spec is None or spec.config.get("durable_endpoint") is None:
                raise EndpointRefused(400, f"run {run_id} is not a durable endpoint's run")
            if run.status not in UNENDED:
                raise EndpointRefused(409, f"run {run_id} has ended ({run.status.value})")
            found.append(spec)
            events = [e.to_wire() for e in await self._store.get_events(run.event_ids)]
            now = self._clock.now_ms()
            went_async[0] = self._apply(plan, run, events, steps, now)
            await plan_op_metadata(self._store, plan, run_id, _settled(steps), 0, now)
            return plan

        await self._commit(build)
        return EndpointRun(run_id, found[0], went_async[0])

    def _apply(
        self,
        plan: Plan,
        run: RunRecord,
        events: list[dict[str, Any]],
        steps: list[Op],
        now: int,
    ) -> bool:
        """Store settled steps; end the run on ``RunComplete``; anything else hands the rest of
        the run to the engine. Returns whether it did that."""
        changes = plan.changes
        for op in steps:
            if op.op in _SETTLED:
                failed = op.op is Opcode.STEP_FAILED
                value = wrap_error(op.error or {}) if failed else wrap_data(op.data)
                changes.steps.append(StepRow(run.run_id, op.id, value))
                changes.spans.append(
                    StepSpan(
                        run_id=run.run_id,
                        step_hash=op.id,
                        name=op.display_name or op.name or op.id,
                        kind=SpanKind.RUN,
                        attempt=0,
                        status=SpanStatus.FAILED if failed else SpanStatus.COMPLETED,
                        started_at=now - (op.duration_ms or 0),
                        ended_at=now,
                        error=op.error if failed else None,
                    )
                )
        if any(op.op is Opcode.RUN_COMPLETE for op in steps):
            done = next(op for op in steps if op.op is Opcode.RUN_COMPLETE)
            finish_run(run, events, RunStatus.COMPLETED, plan, now, output=done.data)
            return False
        if any(op.op not in _SETTLED for op in steps):
            self._lease.run_on(plan, run.run_id, now)
            return True
        return False


def _completion_apart(steps: list[Op]) -> tuple[list[Op], list[Op]]:
    """(the other ops, [RunComplete]) when a request reports its result beside other ops;
    (steps, []) otherwise."""
    complete = [op for op in steps if op.op is Opcode.RUN_COMPLETE]
    if not complete or len(complete) == len(steps):
        return steps, []
    return [op for op in steps if op.op is not Opcode.RUN_COMPLETE], complete[:1]
