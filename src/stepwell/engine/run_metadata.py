"""Run metadata (and scores, which are metadata of kind ``inngest.score``), with Inngest's limits.

An update is ``{kind, op, values}`` aimed at a run, a step of it, or one attempt of a step.
Limits, as Inngest's: a kind is at most 128 characters, ``inngest.*`` kinds only from an
allowlist; one update's values at most 64 KiB (the sum of each key's length and its value's JSON
length); a run's metadata at most 1 MiB in all. Over a size limit is refused whole (413); nothing
of a refused request is stored.

A run's metadata is kept as one piece of engine state (``keys.metadata_key``), written with a
version check, so concurrent writers cannot both pass the run's limit.

Metadata an SDK attaches to a step's op (TS 4.x, set inside ``step.run``; in a function's
answers and async checkpoints, and a durable endpoint's checkpoints) is stored with the step,
in its commit (``plan_op_metadata``), aimed at that step. As Inngest does with such
metadata, each update is checked on its own and one that is refused (malformed, over a limit)
is dropped with a warning: it never fails the step or the run.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from stepwell.engine.committer import Committer
from stepwell.engine.keys import metadata_key
from stepwell.engine.plan import Plan
from stepwell.ports.clock import Clock
from stepwell.ports.records import StatePut
from stepwell.ports.store import EngineStore
from stepwell.protocol.ops import Op
from stepwell.protocol.step_ids import hash_step_id

log = logging.getLogger("stepwell.engine.metadata")

MAX_KIND_LENGTH = 128
MAX_UPDATE_BYTES = 64 * 1024
MAX_RUN_METADATA_BYTES = 1024 * 1024
MAX_SCORE_NAME_BYTES = 128
MAX_SCORES_PER_REQUEST = 100
SCORE_KIND = "inngest.score"
EXPERIMENT_KIND = "inngest.experiment"
OPS = frozenset({"set", "merge", "delete", "add"})
SCOPES = frozenset({"run", "step", "step_attempt", "extended_trace"})
ALLOWED_INNGEST_KINDS = frozenset(
    {
        "inngest.ai",
        "inngest.http",
        "inngest.http.timing",
        "inngest.response_headers",
        "inngest.warnings",
        EXPERIMENT_KIND,
        SCORE_KIND,
    }
)
_BAD_SCORE_NAME = re.compile(r"[\x00-\x1f\x7f']")


class MetadataRefused(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Target:
    """What an update is about: the run (no step), a step, or one attempt of a step."""

    step_id: str | None = None
    step_index: int = 0
    attempt: int | None = None
    span_id: str | None = None
    hashed: str | None = None
    """The step's hashed id, when known as such (an op's ``id``)."""
    reported_scope: str | None = None
    """The scope the SDK gave (an op's metadata says it), over the one the target implies."""

    @property
    def scope(self) -> str:
        if self.reported_scope is not None:
            return self.reported_scope
        if self.span_id is not None:
            return "extended_trace"
        if self.step_id is None:
            return "run"
        return "step" if self.attempt is None else "step_attempt"

    @property
    def step_hash(self) -> str | None:
        if self.hashed is not None:
            return self.hashed
        if self.step_id is None:
            return None
        if self.step_index:
            return hash_step_id(f"{self.step_id}:{self.step_index}")
        return hash_step_id(self.step_id)


@dataclass(frozen=True, slots=True)
class Update:
    kind: str
    op: str
    values: dict[str, Any]
    size: int


def values_size(values: dict[str, Any]) -> int:
    return sum(
        len(key) + len(json.dumps(value, separators=(",", ":"))) for key, value in values.items()
    )


def parse_update(raw: Any, where: str) -> Update:
    """One update, checked; raises ``MetadataRefused`` naming what is wrong."""
    if not isinstance(raw, dict):
        raise MetadataRefused(400, f"{where}: expected an object with kind, op and values")
    kind, op, values = raw.get("kind"), raw.get("op", "merge"), raw.get("values")
    if not isinstance(kind, str) or not kind:
        raise MetadataRefused(400, f"{where}.kind: expected a non-empty string")
    if len(kind) > MAX_KIND_LENGTH:
        raise MetadataRefused(
            400, f"{where}.kind: at most {MAX_KIND_LENGTH} characters, not {len(kind)}"
        )
    if kind.startswith("inngest.") and kind not in ALLOWED_INNGEST_KINDS:
        raise MetadataRefused(400, f"{where}.kind: {kind!r} is reserved (inngest.* kinds)")
    if not isinstance(op, str) or op.lower() not in OPS:
        raise MetadataRefused(400, f"{where}.op: expected one of {', '.join(sorted(OPS))}")
    if not isinstance(values, dict):
        raise MetadataRefused(400, f"{where}.values: expected an object")
    if kind == SCORE_KIND:
        for name, value in values.items():
            check_score(name, value, f"{where}.values")
    size = values_size(values)
    if size > MAX_UPDATE_BYTES:
        raise MetadataRefused(
            413,
            f"{where}: metadata span exceeds maximum size of 64KB "
            f"({size} bytes; the limit is {MAX_UPDATE_BYTES})",
        )
    return Update(kind, op.lower(), values, size)


def check_score(name: Any, value: Any, where: str) -> None:
    if not isinstance(name, str) or not name.strip():
        raise MetadataRefused(400, f"{where}: a score name is required")
    if _BAD_SCORE_NAME.search(name):
        raise MetadataRefused(
            400, f"{where}: score name {name!r} has control characters or single quotes"
        )
    if len(name.encode("utf-8")) > MAX_SCORE_NAME_BYTES:
        raise MetadataRefused(
            400, f"{where}: score name must be at most {MAX_SCORE_NAME_BYTES} UTF-8 bytes"
        )
    inner = value.get("value") if isinstance(value, dict) else value
    finite = isinstance(inner, bool) or (
        isinstance(inner, int | float) and math.isfinite(float(inner))
    )
    if not finite:
        raise MetadataRefused(400, f"{where}: score {name!r} must be a finite number or boolean")


class RunMetadata:
    def __init__(self, *, store: EngineStore, committer: Committer, clock: Clock) -> None:
        self._store = store
        self._commit = committer.commit
        self._clock = clock

    async def add(self, run_id: str, updates: list[tuple[Target, Update]]) -> int:
        """Store ``updates`` for the run, all or none; returns the run's metadata size after."""
        total = [0]

        async def build() -> Plan:
            plan = Plan()
            if await self._store.get_run(run_id) is None:
                raise MetadataRefused(404, f"run {run_id} not found")
            stored = await _Stored.read(self._store, run_id)
            size = stored.size + sum(u.size for _, u in updates)
            if size > MAX_RUN_METADATA_BYTES:
                raise MetadataRefused(413, _cumulative_message(size))
            now = self._clock.now_ms()
            for target, update in updates:
                stored.append(target, update, now)
            stored.plan(plan)
            total[0] = size
            return plan

        await self._commit(build)
        return total[0]

    async def of_run(self, run_id: str) -> list[dict[str, Any]]:
        key = metadata_key(run_id)
        found = (await self._store.get_states([key])).get(key)
        if found is None or not isinstance(found[0], dict):
            return []
        return list(found[0].get("entries", []))


def _cumulative_message(size: int) -> str:
    return (
        "cumulative metadata size exceeds limit: the run would hold "
        f"{size} bytes of metadata; the limit is {MAX_RUN_METADATA_BYTES} (1MB)"
    )


@dataclass(slots=True)
class _Stored:
    """A run's metadata as read, with what is added to it before it is written back."""

    key: str
    version: Any
    size: int
    entries: list[dict[str, Any]]
    added: int = 0

    @classmethod
    async def read(cls, store: EngineStore, run_id: str) -> _Stored:
        key = metadata_key(run_id)
        current = (await store.get_states([key])).get(key)
        state: dict[str, Any] = current[0] if current is not None else {}
        version = current[1] if current is not None else None
        return cls(key, version, int(state.get("size", 0)), list(state.get("entries", [])))

    def append(self, target: Target, update: Update, now: int) -> None:
        self.size += update.size
        self.added += 1
        self.entries.append(
            {
                "scope": target.scope,
                "step_hash": target.step_hash,
                "step_id": target.step_id,
                "attempt": target.attempt,
                "span_id": target.span_id,
                "kind": update.kind,
                "op": update.op,
                "values": update.values,
                "at": now,
            }
        )

    def plan(self, plan: Plan) -> None:
        # Written with the version read: a concurrent writer makes the commit re-plan.
        state = {"size": self.size, "entries": self.entries}
        plan.changes.states.append(StatePut(self.key, state, self.version))


def _op_target(op: Op, scope: Any, attempt: int) -> Target:
    # Aimed at the op's step whatever scope it reports (TS says "run" for
    # ``metadata.run(ownRunId)`` inside the step): Inngest, too, records it under the step's
    # execution, keeping the scope as the SDK gave it.
    if scope is not None and scope not in SCOPES:
        raise MetadataRefused(400, f"scope: expected one of {', '.join(sorted(SCOPES))}")
    scope = scope or "step"
    return Target(
        step_id=op.name or op.display_name or None,
        attempt=attempt if scope == "step_attempt" else None,
        hashed=op.id,
        reported_scope=scope,
    )


async def plan_op_metadata(
    store: EngineStore, plan: Plan, run_id: str, ops: list[Op], attempt: int, now: int
) -> None:
    """Into ``plan``: the metadata ``ops`` carry, each update aimed at its op's step.

    An update that is refused is left out, with a warning naming the step and why; the rest
    are stored. Reads the run's metadata only when an op carries some.
    """
    if not any(op.metadata for op in ops):
        return
    stored = await _Stored.read(store, run_id)
    for op in ops:
        step = op.display_name or op.name or op.id
        for i, raw in enumerate(op.metadata):
            try:
                update = parse_update(raw, f"metadata[{i}]")
                target = _op_target(op, raw.get("scope"), attempt)
                if stored.size + update.size > MAX_RUN_METADATA_BYTES:
                    raise MetadataRefused(413, _cumulative_message(stored.size + update.size))
            except MetadataRefused as exc:
                log.warning("run %s, step %r: metadata dropped: %s", run_id, step, exc)
                continue
            stored.append(target, update, now)
    if stored.added:
        stored.plan(plan)
