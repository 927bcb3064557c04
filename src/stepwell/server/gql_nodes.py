"""The objects the GraphQL API returns (``schema.graphql``), one class per GraphQL type.

graphql-core's default resolver reads a field from the attribute of the same name, calling it
with ``(info, **arguments)`` when it is a method: simple fields are attributes, fields that need
the store are (async) methods, so nothing is loaded unless a query asks for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLResolveInfo

from stepwell.core.runs import RunStatus
from stepwell.engine.registry import FunctionSpec
from stepwell.ports.records import AppRecord, RunRecord, StoredEvent
from stepwell.protocol import events as names
from stepwell.protocol.durations import DurationError, instant_from_ms, ms_from_instant
from stepwell.server.runtime import ServerRuntime


class GqlError(Exception):
    """A refusal the caller should read: its message goes to the response's ``errors``."""


@dataclass(slots=True)
class GqlContext:
    runtime: ServerRuntime


def context(info: GraphQLResolveInfo[GqlContext]) -> GqlContext:
    return info.context


# -- values -----------------------------------------------------------------------------------


def time_out(ms: int | None) -> str | None:
    """The ``Time`` scalar: ISO 8601 in UTC with milliseconds."""
    return None if ms is None else instant_from_ms(ms)


def time_in(value: Any, field: str) -> int:
    """Milliseconds since the epoch from a ``Time`` argument (ISO 8601, or milliseconds)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return ms_from_instant(value)
        except (DurationError, OverflowError):
            pass
    raise GqlError(f"{field}: expected an ISO 8601 time, got {value!r}")


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def run_status(status: RunStatus) -> str:
    return status.value.upper()


def run_output(run: RunRecord) -> str | None:
    """A run's output as JSON (its error if it failed); nothing while it has not ended."""
    if run.error is not None:
        return to_json(run.error)
    if run.status.is_terminal:
        return to_json(run.output)
    return None


def function_uuid(slug: str) -> str:
    return FunctionSpec(app_id="", local_id="", name=slug, full_slug=slug).uuid


# -- apps and functions -----------------------------------------------------------------------


class AppNode:
    def __init__(
        self, runtime: ServerRuntime, record: AppRecord | None, *, url: str, error: str | None
    ) -> None:
        self._runtime = runtime
        payload = record.payload if record is not None else {}
        language, _, version = str(payload.get("sdk") or "").partition(":")
        self.id = record.app_uuid if record is not None else f"unsynced:{url}"
        self.externalID = record.name if record is not None else url
        self.name = self.externalID
        self.sdkLanguage = language
        self.sdkVersion = version.removeprefix("v")
        self.framework: str | None = payload.get("framework")
        self.url = url
        self.checksum = record.checksum if record is not None else None
        self.error = error
        self.appVersion: str | None = payload.get("appVersion")
        self.connected = record is not None and error is None
        self.autodiscovered = False
        self.method = "SERVE"

    @classmethod
    def of(cls, runtime: ServerRuntime, record: AppRecord) -> AppNode:
        return cls(runtime, record, url=record.url, error=runtime.syncer.errors.get(record.url))

    def _specs(self) -> list[FunctionSpec]:
        if self.checksum is None:
            return []
        specs = self._runtime.engine.registry.of_app(self.externalID)
        return sorted(specs, key=lambda spec: spec.slug)

    def functions(self, info: GraphQLResolveInfo[GqlContext]) -> list[FunctionNode]:
        return [FunctionNode(self._runtime, spec) for spec in self._specs()]

    def functionCount(self, info: GraphQLResolveInfo[GqlContext]) -> int:
        return len(self._specs())


def _concurrency(config: dict[str, Any]) -> int:
    raw = config.get("concurrency")
    first = raw[0] if isinstance(raw, list) and raw else raw
    limit = first.get("limit") if isinstance(first, dict) else first
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else 0


class FunctionNode:
    def __init__(self, runtime: ServerRuntime, spec: FunctionSpec) -> None:
        self._runtime = runtime
        app = runtime.catalog.get(spec.app_id)
        self.id = spec.uuid
        self.name = spec.name
        self.slug = spec.slug
        self.config = to_json(spec.config)
        self.concurrency = _concurrency(spec.config)
        self.triggers = [
            {"type": "EVENT", "value": t.event, "condition": t.expression} for t in spec.triggers
        ] + [{"type": "CRON", "value": c.cron, "condition": None} for c in spec.crons]
        self.url = spec.url or ""
        self.appID = app.app_uuid if app is not None else spec.app_id
        self._app = app

    def app(self, info: GraphQLResolveInfo[GqlContext]) -> AppNode | None:
        return AppNode.of(self._runtime, self._app) if self._app is not None else None


def function_node(runtime: ServerRuntime, slug: str) -> FunctionNode:
    """The function of a run, even if its app has since dropped it."""
    spec = runtime.engine.registry.get(slug)
    if spec is None:
        spec = FunctionSpec(app_id="", local_id="", name=slug, full_slug=slug)
    return FunctionNode(runtime, spec)


# -- events -----------------------------------------------------------------------------------


class _Runs:
    """The runs an event started, loaded once per object."""

    def __init__(self, runtime: ServerRuntime, internal_id: str) -> None:
        self._runtime = runtime
        self._internal_id = internal_id
        self._runs: list[RunRecord] | None = None

    async def load(self) -> list[RunRecord]:
        if self._runs is None:
            runs = await self._runtime.engine.list_runs(event_id=self._internal_id, limit=1000)
            self._runs = sorted(runs, key=lambda run: run.run_id)
        return self._runs


def _event_status(runs: list[RunRecord]) -> str:
    if not runs:
        return "NO_FUNCTIONS"
    if any(not run.status.is_terminal for run in runs):
        return "RUNNING"
    failed = sum(run.status is RunStatus.FAILED for run in runs)
    if failed == 0:
        return "COMPLETED"
    return "FAILED" if failed == len(runs) else "PARTIALLY_FAILED"


class EventNode:
    def __init__(self, runtime: ServerRuntime, stored: StoredEvent) -> None:
        self._runtime = runtime
        self._runs = _Runs(runtime, stored.internal_id)
        event = stored.event
        self.id = stored.internal_id
        self.externalID = event.id or None
        self.name = event.name
        self.createdAt = time_out(event.ts)
        self.payload = to_json(event.data)
        self.raw = to_json(stored.to_wire())

    async def functionRuns(self, info: GraphQLResolveInfo[GqlContext]) -> list[RunNode]:
        return [RunNode(self._runtime, run) for run in await self._runs.load()]

    async def status(self, info: GraphQLResolveInfo[GqlContext]) -> str:
        return _event_status(await self._runs.load())

    async def totalRuns(self, info: GraphQLResolveInfo[GqlContext]) -> int:
        return len(await self._runs.load())

    async def pendingRuns(self, info: GraphQLResolveInfo[GqlContext]) -> int:
        return sum(not run.status.is_terminal for run in await self._runs.load())


class EventV2Node:
    def __init__(self, runtime: ServerRuntime, stored: StoredEvent) -> None:
        self._runtime = runtime
        self._runs = _Runs(runtime, stored.internal_id)
        event = stored.event
        self.id = stored.internal_id
        self.name = event.name
        # As Inngest: the event's id, the sender's when it gave one, else the internal one.
        self.idempotencyKey = event.id or stored.internal_id
        self.occurredAt = time_out(event.ts)
        self.receivedAt = time_out(stored.received_at)
        self.raw = to_json(stored.to_wire())
        self.version = event.v

    async def runs(self, info: GraphQLResolveInfo[GqlContext]) -> list[RunV2Node]:
        return [RunV2Node(self._runtime, run) for run in await self._runs.load()]


class StreamItemNode:
    def __init__(self, runtime: ServerRuntime, stored: StoredEvent, runs: list[RunRecord]):
        event = stored.event
        cron = event.data.get("cron") if event.name == names.SCHEDULED_TIMER else None
        self.id = stored.internal_id
        self.trigger = str(cron) if cron else event.name
        self.type = "CRON" if cron else "EVENT"
        self.createdAt = time_out(stored.received_at)
        self.runs = [RunNode(runtime, run) for run in runs]
        self.inBatch = any(len(run.event_ids) > 1 for run in runs)


# -- runs -------------------------------------------------------------------------------------


class _RunEvents:
    def __init__(self, runtime: ServerRuntime, run: RunRecord) -> None:
        self._runtime = runtime
        self._run = run
        self._events: list[StoredEvent] | None = None

    async def load(self) -> list[StoredEvent]:
        if self._events is None:
            self._events = await self._runtime.engine.history.get_events(self._run.event_ids)
        return self._events

    async def cron(self) -> str | None:
        events = await self.load()
        if events and events[0].event.name == names.SCHEDULED_TIMER:
            cron = events[0].event.data.get("cron")
            return str(cron) if cron else None
        return None


class RunNode:
    """``FunctionRun``, the older shape of a run (events, stream, cancelRun)."""

    def __init__(self, runtime: ServerRuntime, run: RunRecord) -> None:
        self._runtime = runtime
        self._events = _RunEvents(runtime, run)
        self.id = run.run_id
        self.functionID = run.function_id
        self.status = run_status(run.status)
        self.startedAt = time_out(run.started_at)
        self.finishedAt = time_out(run.ended_at)
        self.output = run_output(run)
        self.eventID = run.event_ids[0] if run.event_ids else ""

    def function(self, info: GraphQLResolveInfo[GqlContext]) -> FunctionNode:
        return function_node(self._runtime, self.functionID)

    async def event(self, info: GraphQLResolveInfo[GqlContext]) -> EventNode | None:
        events = await self._events.load()
        return EventNode(self._runtime, events[0]) if events else None

    async def events(self, info: GraphQLResolveInfo[GqlContext]) -> list[EventNode]:
        return [EventNode(self._runtime, e) for e in await self._events.load()]

    async def cron(self, info: GraphQLResolveInfo[GqlContext]) -> str | None:
        return await self._events.cron()


class RunV2Node:
    """``FunctionRunV2``: a run (run, runs); its ``trace`` is resolved in ``gql_trace``."""

    def __init__(self, runtime: ServerRuntime, run: RunRecord) -> None:
        self._runtime = runtime
        self.record = run
        self._events = _RunEvents(runtime, run)
        app = runtime.catalog.get(run.app_id)
        self.id = run.run_id
        self.appID = app.app_uuid if app is not None else None
        self._app = app
        self.functionID = function_uuid(run.function_id)
        self.traceID = run.run_id
        self.queuedAt = time_out(run.created_at)
        self.startedAt = time_out(run.started_at)
        self.endedAt = time_out(run.ended_at)
        self.status = run_status(run.status)
        self.sourceID = run.correlation_id.split(".", 1)[0] if run.correlation_id else None
        self.triggerIDs = list(run.event_ids)
        self.isBatch = len(run.event_ids) > 1
        self.output = run_output(run)
        self.hasAI = False

    def app(self, info: GraphQLResolveInfo[GqlContext]) -> AppNode | None:
        return AppNode.of(self._runtime, self._app) if self._app is not None else None

    def function(self, info: GraphQLResolveInfo[GqlContext]) -> FunctionNode:
        return function_node(self._runtime, self.record.function_id)

    async def eventName(self, info: GraphQLResolveInfo[GqlContext]) -> str | None:
        events = await self._events.load()
        return events[0].event.name if events else None

    async def cronSchedule(self, info: GraphQLResolveInfo[GqlContext]) -> str | None:
        return await self._events.cron()
