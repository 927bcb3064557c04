"""Rows the engine and the stores exchange."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stepwell.core.json_values import parse_trusted
from stepwell.core.runs import RunStatus
from stepwell.protocol.events import Event


@dataclass(slots=True)
class StoredEvent:
    """An accepted event. ``internal_id`` is ours (a ULID); ``event.id`` is the user's key."""

    internal_id: str
    event: Event
    received_at: int
    body: str | None = field(default=None, repr=False, compare=False)
    """The stored body (``data``, ``user``, ``v``) as JSON, when validation encoded it."""

    def body_json(self) -> str:
        """The body as stored: the text validation made, else encoded now."""
        if self.body is not None:
            return self.body
        ev = self.event
        return json.dumps(
            {"data": ev.data, "user": ev.user, "v": ev.v}, separators=(",", ":"), ensure_ascii=False
        )

    def to_wire(self) -> dict[str, Any]:
        """The event as functions see it: the user's id if given, else ours (§0.4 item 18)."""
        wire = self.event.to_wire()
        wire["id"] = self.event.id or self.internal_id
        return wire

    def detached(self) -> StoredEvent:
        """The event as a read from the store would give it: data and user decoded afresh
        from the stored body, so whoever still holds the objects it was sent with cannot
        change what a run sees (an event the engine made itself has no body: as it is)."""
        if self.body is None:
            return self
        body = parse_trusted(self.body)
        ev = self.event
        event = Event(ev.name, body["data"], ev.id, ev.ts, body["user"], body.get("v"))
        return StoredEvent(self.internal_id, event, self.received_at, self.body)


@dataclass(slots=True)
class RunRecord:
    run_id: str
    app_id: str
    function_id: str
    status: RunStatus
    event_ids: list[str]
    created_at: int
    started_at: int | None = None
    ended_at: int | None = None
    output: Any = None
    error: dict[str, Any] | None = None
    correlation_id: str | None = None
    concurrency_keys: list[list[Any]] = field(default_factory=list)
    """``[key, limit]`` pairs this run's executions count against."""


@dataclass(slots=True)
class NewRun:
    """A run to create; skipped (not an error) when its idempotency key is still held."""

    record: RunRecord
    idempotency_key: str | None = None
    idempotency_expires_at: int = 0


class ItemKind(StrEnum):
    EXECUTE = "execute"
    SLEEP = "sleep"
    PAUSE_TIMEOUT = "pause_timeout"
    CRON = "cron"
    DEBOUNCE = "debounce"
    BATCH = "batch"
    RUN_TIMEOUT = "run_timeout"


@dataclass(slots=True)
class QueueItem:
    """Due work. Ids are deterministic per purpose so a repeated report cannot duplicate it."""

    item_id: str
    run_id: str
    kind: ItemKind
    due_at: int
    attempt: int = 0
    step_hash: str | None = None
    pause_id: str | None = None
    lease_owner: str | None = None
    lease_until: int = 0
    generation: int = 0
    payload: dict[str, Any] | None = None


RUN_METADATA_STATE = "metadata:"
RUN_DEFERS_STATE = "defers:"
RUN_OWNED_STATES = (RUN_METADATA_STATE, RUN_DEFERS_STATE)
"""Flow-state keys that belong to one run are one of these prefixes and its id: stores prune
them with the run (retention), as they prune its steps."""


class PauseKind(StrEnum):
    EVENT = "event"
    INVOKE = "invoke"
    SIGNAL = "signal"
    CANCEL = "cancel"


@dataclass(slots=True)
class Pause:
    """A run waiting for an event (``wait_for_event``) or for an invoked run to finish."""

    pause_id: str
    run_id: str
    step_hash: str
    kind: PauseKind
    event_name: str
    expires_at: int
    expression: str | None = None
    correlation_id: str | None = None
    trigger_event: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class StepRow:
    run_id: str
    step_hash: str
    value: Any
    encoded: str | None = None
    """``value`` as compact JSON if already made (what a store may write as it is)."""


class SpanKind(StrEnum):
    """What a step of the trace did (the trace's ``stepOp``)."""

    RUN = "RUN"
    SLEEP = "SLEEP"
    WAIT_FOR_EVENT = "WAIT_FOR_EVENT"
    INVOKE = "INVOKE"
    WAIT_FOR_SIGNAL = "WAIT_FOR_SIGNAL"
    AI_GATEWAY = "AI_GATEWAY"


class SpanStatus(StrEnum):
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    """Failed for good: the step's error is its result."""
    ERRORED = "ERRORED"
    """Failed on this attempt; it is tried again."""
    WAITING = "WAITING"
    """A sleep, wait or invoke that has not ended yet."""


@dataclass(slots=True)
class StepSpan:
    """One attempt of one step, as the run's trace shows it; kept with the run.

    ``(run_id, step_hash, attempt)`` names a span: writing it again replaces it (a sleep's
    span is written ``WAITING`` when it starts and again when it ends).
    """

    run_id: str
    step_hash: str
    name: str
    """The step's id as written in the code (``"charge card"``), not its hash."""
    kind: SpanKind
    attempt: int
    status: SpanStatus
    started_at: int
    ended_at: int | None = None
    queued_ms: int = 0
    """How long the execution that ran it waited after it was due (0 for later steps of
    the same execution)."""
    error: dict[str, Any] | None = None
    detail: dict[str, Any] | None = None
    """What a wait waited for, as JSON: a sleep's ``wake_at``; a wait's ``event``, ``if``
    and ``timeout_at``; an invoke's ``function_id`` and ``timeout_at``; a signal's
    ``signal`` and ``timeout_at`` (instants in ms)."""


@dataclass(slots=True)
class RunUpdate:
    """Move a run to ``status``; only applies if it is currently in one of ``expect``."""

    run_id: str
    status: RunStatus
    expect: tuple[RunStatus, ...]
    output: Any = None
    error: dict[str, Any] | None = None
    started_at: int | None = None
    ended_at: int | None = None


@dataclass(slots=True)
class ItemDone:
    """Delete an item, unless it was re-armed (its generation moved on) since it was read."""

    item_id: str
    generation: int


@dataclass(slots=True)
class ItemPut:
    """Write an item only if it is as we read it: absent (``expect_generation`` None), or at
    that generation. Otherwise the change set conflicts: for state kept in items (debounce,
    batches) that concurrent events update."""

    item: QueueItem
    expect_generation: int | None
    delete: bool = False


@dataclass(slots=True)
class StatePut:
    """Set flow-control state ``key`` if its version is still ``expect_version`` (None: the
    key must not exist yet). Otherwise the change set conflicts and is planned again."""

    key: str
    value: Any
    expect_version: int | None


@dataclass(slots=True)
class ChangeSet:
    """Everything one engine decision writes: applied atomically, or not at all."""

    events: list[StoredEvent] = field(default_factory=list)
    runs: list[NewRun] = field(default_factory=list)
    run_updates: list[RunUpdate] = field(default_factory=list)
    steps: list[StepRow] = field(default_factory=list)
    spans: list[StepSpan] = field(default_factory=list)
    items: list[QueueItem] = field(default_factory=list)
    items_done: list[ItemDone] = field(default_factory=list)
    items_rescheduled: list[QueueItem] = field(default_factory=list)
    pauses: list[Pause] = field(default_factory=list)
    pauses_consumed: list[str] = field(default_factory=list)
    items_removed: list[str] = field(default_factory=list)
    items_put: list[ItemPut] = field(default_factory=list)
    states: list[StatePut] = field(default_factory=list)
    ended_runs: list[str] = field(default_factory=list)
    urgent: bool = False
    """A caller is waiting to be told these changes are durable (events being accepted): a
    store may apply them ahead of background writes queued before them. Every change set
    checks what it expects in its own transaction, so any order of concurrent ones is valid."""
    user_events: int = 0
    """How many of the first ``events`` passed ``validate`` (which refuses the reserved
    ``inngest/`` names), so that telemetry need not read their names to count them."""

    def __bool__(self) -> bool:
        # Every list, written out (this runs on every commit); a unit test fails if a list
        # added later is missing here.
        return bool(
            self.events
            or self.runs
            or self.run_updates
            or self.steps
            or self.spans
            or self.items
            or self.items_done
            or self.items_rescheduled
            or self.pauses
            or self.pauses_consumed
            or self.items_removed
            or self.items_put
            or self.states
            or self.ended_runs
        )


@dataclass(slots=True)
class CommitResult:
    skipped_runs: set[str] = field(default_factory=set)
    """Runs not created because their idempotency key was still held."""
    rearmed_items: set[str] = field(default_factory=set)
    """Items that were not deleted because something re-armed them meanwhile."""


@dataclass(slots=True)
class AppRecord:
    """An app synced over HTTP: its last accepted registration payload."""

    name: str
    url: str
    checksum: str
    payload: dict[str, Any]
    app_uuid: str
    synced_at: int


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """A durable endpoint's function as last served: what calling it back needs (after a
    restart, or from another process), since no app sync ever declares it."""

    slug: str
    app_id: str
    url: str
    retries: int
    method: str
    path: str
    saved_at: int
