"""Operating on runs and functions: rerun (from a step), bulk cancel, pause, resume, replay.

Every operation is one plan committed atomically, like everything else the engine writes.
"""

from __future__ import annotations

from typing import Any

from stepwell.core.expressions import evaluate_bool
from stepwell.engine.committer import Committer
from stepwell.engine.endings import cancel_run
from stepwell.engine.endpoints import DurableEndpoints
from stepwell.engine.keys import paused_key
from stepwell.engine.plan import Plan
from stepwell.engine.planner import Planner
from stepwell.engine.registry import FunctionSpec, Registry
from stepwell.engine.run_metadata import RunMetadata
from stepwell.ports.clock import Clock
from stepwell.ports.records import StatePut, StepRow
from stepwell.ports.store import EndpointStore, EngineStore
from stepwell.protocol.step_ids import hash_step_id

MAX_SCAN = 100_000
MAX_CANCELLATIONS = 1000
CANCELLATIONS_KEY = "cancellations"
"""The flow-control state that keeps bulk cancellations (``POST /v1/cancellations``)."""


class Lifecycle:
    def __init__(
        self,
        *,
        store: EngineStore,
        endpoint_store: EndpointStore,
        registry: Registry,
        planner: Planner,
        clock: Clock,
        committer: Committer,
    ) -> None:
        self._store = store
        self._registry = registry
        self._planner = planner
        self._clock = clock
        self._commit = committer.commit
        self.endpoints = DurableEndpoints(
            store=store,
            endpoints=endpoint_store,
            registry=registry,
            committer=committer,
            lease=planner.lease,
            clock=clock,
        )
        self.metadata = RunMetadata(store=store, committer=committer, clock=clock)

    def _spec(self, function_id: str) -> FunctionSpec:
        spec = self._registry.get(function_id)
        if spec is None:
            raise LookupError(f"function {function_id!r} is not registered")
        return spec

    async def rerun(self, run_id: str, *, from_step: str | None = None) -> str:
        """A new run of the run's function with the same events; returns its id.

        With ``from_step``, the results of the steps stored before that step are kept, so the
        new run replays them and runs again from there. Raises LookupError for an unknown run,
        function, events or step.
        """
        created: list[str] = []

        async def build() -> Plan:
            created.clear()
            plan = Plan()
            run = await self._store.get_run(run_id)
            if run is None:
                raise LookupError(f"no run with id {run_id!r}")
            spec = self._spec(run.function_id)
            stored = await self._store.get_events(run.event_ids)
            if not stored:
                raise LookupError(f"the events of run {run_id!r} are gone")
            kept: dict[str, Any] = {}
            if from_step is not None:
                memo = await self._store.load_memo(run_id)
                target = from_step if from_step in memo else hash_step_id(from_step)
                if target not in memo:
                    raise LookupError(f"run {run_id!r} has no stored step {from_step!r}")
                for step_hash, value in memo.items():
                    if step_hash == target:
                        break
                    kept[step_hash] = value
            new_id = await self._planner.start_run(
                spec, stored, plan, self._clock.now_ms(), idempotent=False
            )
            if new_id is None:
                return plan  # flow control declined it (rate limit, singleton)
            for new in plan.changes.runs:
                if new.record.run_id == new_id:
                    new.record.correlation_id = None  # a rerun answers no invoking parent
            plan.changes.steps.extend(StepRow(new_id, h, v) for h, v in kept.items())
            created.append(new_id)
            return plan

        await self._commit(build)
        if not created:
            raise RuntimeError(f"run {run_id!r} could not be started again (flow control)")
        return created[0]

    async def cancel_many(
        self,
        function_id: str,
        *,
        started_after: int | None = None,
        started_before: int | None = None,
        condition: str | None = None,
        record: dict[str, Any] | None = None,
    ) -> list[str]:
        """Cancel the function's unfinished runs created in the window (ms) for whose first
        event the CEL ``condition`` holds; returns their ids. With ``record`` (an ``id`` and
        what was asked), the cancellation is kept, in the same commit, for
        ``list_cancellations`` (the newest ``MAX_CANCELLATIONS``)."""
        self._spec(function_id)
        cancelled: list[str] = []

        async def build() -> Plan:
            cancelled.clear()
            plan = Plan()
            now = self._clock.now_ms()
            for run in await self._store.list_runs(function_id=function_id, limit=MAX_SCAN):
                if run.status.is_terminal:
                    continue
                if started_after is not None and run.created_at < started_after:
                    continue
                if started_before is not None and run.created_at >= started_before:
                    continue
                if condition:
                    first = await self._store.get_events(run.event_ids[:1])
                    if not evaluate_bool(condition, {"event": first[0].to_wire() if first else {}}):
                        continue
                if await cancel_run(self._store, run, plan, now):
                    cancelled.append(run.run_id)
            if record is not None:
                await self._keep_cancellation(plan, record, now, list(cancelled))
            return plan

        await self._commit(build)
        return list(cancelled)

    async def _keep_cancellation(
        self, plan: Plan, record: dict[str, Any], now: int, cancelled: list[str]
    ) -> None:
        current = (await self._store.get_states([CANCELLATIONS_KEY])).get(CANCELLATIONS_KEY)
        kept = list(current[0].get("items", [])) if current else []
        entry = {**record, "created_at": now, "cancelled_run_ids": cancelled}
        kept = [entry, *kept][:MAX_CANCELLATIONS]
        version = current[1] if current else None
        plan.changes.states.append(StatePut(CANCELLATIONS_KEY, {"items": kept}, version))

    async def list_cancellations(self) -> list[dict[str, Any]]:
        """Bulk cancellations kept by ``cancel_many``, newest first."""
        current = (await self._store.get_states([CANCELLATIONS_KEY])).get(CANCELLATIONS_KEY)
        return list(current[0].get("items", [])) if current else []

    async def delete_cancellation(self, cancellation_id: str) -> bool:
        """Forget a kept cancellation (the runs it cancelled stay cancelled); False if no
        cancellation has that id."""
        found = [False]

        async def build() -> Plan:
            plan = Plan()
            current = (await self._store.get_states([CANCELLATIONS_KEY])).get(CANCELLATIONS_KEY)
            items = list(current[0].get("items", [])) if current else []
            left = [item for item in items if item.get("id") != cancellation_id]
            found[0] = len(left) != len(items)
            if current is not None and found[0]:
                plan.changes.states.append(StatePut(CANCELLATIONS_KEY, {"items": left}, current[1]))
            return plan

        await self._commit(build)
        return found[0]

    async def cancel(self, run_id: str) -> bool:
        """Cancel a run that has not ended; False if it had already ended."""
        cancelled = [False]

        async def build() -> Plan:
            plan = Plan()
            run = await self._store.get_run(run_id)
            if run is None:
                raise LookupError(f"no run with id {run_id!r}")
            cancelled[0] = await cancel_run(self._store, run, plan, self._clock.now_ms())
            return plan

        await self._commit(build)
        return cancelled[0]

    async def paused_since(self, function_id: str) -> int | None:
        """When the function was paused (ms since the epoch); None while it is not paused."""
        key = paused_key(function_id)
        entry = (await self._store.get_states([key])).get(key)
        return int(entry[0].get("since") or 0) if entry and entry[0].get("paused") else None

    async def load_paused(self) -> None:
        """Bring back which functions were paused (at start and after a sync)."""
        found = await self._store.get_states([paused_key(s.slug) for s in self._registry])
        for spec in self._registry:
            entry = found.get(paused_key(spec.slug))
            spec.paused = bool(entry and entry[0].get("paused"))

    async def set_paused(self, function_id: str, paused: bool) -> None:
        """A paused function starts no runs; its events are kept (see ``replay``)."""
        spec = self._spec(function_id)
        key = paused_key(spec.slug)

        async def build() -> Plan:
            plan = Plan()
            current = (await self._store.get_states([key])).get(key)
            value = {"paused": paused, "since": self._clock.now_ms()}
            plan.changes.states.append(StatePut(key, value, current[1] if current else None))
            return plan

        await self._commit(build)
        spec.paused = paused

    async def replay(
        self, function_id: str, *, received_after: int, received_before: int | None = None
    ) -> list[str]:
        """Start runs for the function's events received in the window (ms), e.g. those kept
        while it was paused; returns the new runs' ids."""
        spec = self._spec(function_id)
        started: list[str] = []

        async def build() -> Plan:
            started.clear()
            plan = Plan()
            now = self._clock.now_ms()
            events = await self._store.list_events(
                received_after=received_after, received_before=received_before, limit=MAX_SCAN
            )
            for event in reversed(events):  # oldest first
                wire = event.to_wire()
                if spec.slug not in {
                    s.slug for s in self._registry.matching(event.event.name, wire)
                }:
                    continue
                run_id = await self._planner.start_run(spec, [event], plan, now, idempotent=False)
                if run_id is not None:
                    started.append(run_id)
            return plan

        await self._commit(build)
        return list(started)
