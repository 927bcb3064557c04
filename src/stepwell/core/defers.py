"""Deferred runs (the TS SDK's ``defer()``): the rules, no I/O.

A function reports ``DeferAdd`` (``opts: {fn_slug, input, meta?}``) and ``DeferAbort``
(``opts: {target_hashed_id, fn_slug, id}``) as lazy ops riding along with other ops. Each
accepted defer is recorded against the parent run; when the parent ends (any way: completed,
failed, cancelled) every defer still scheduled becomes one ``inngest/deferred.schedule`` event,
whose data is the defer's input plus ``_inngest`` naming the target and the parent. The target
function is triggered by that event (its trigger filters on ``event.data._inngest.fn_slug``),
so it runs with its own flow control.

A defer never fails its parent: one the rules refuse is recorded as rejected (so the SDK stops
sending it) with the reason, or, when the run already has the most defers it may, dropped.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from typing import Any

from stepwell.core.json_values import JsonValueError, dumps, utf8_size
from stepwell.core.limits import MIB

MAX_DEFERS_PER_RUN = 20
"""Distinct defers (hashed ids) one run may record, whatever became of them."""
MAX_DEFER_INPUT_BYTES = 4 * MIB
"""One defer's input, as JSON."""
MAX_DEFER_INPUTS_BYTES = 4 * MIB
"""All of a run's scheduled defers' inputs together (an aborted one gives its bytes back)."""

DEFERRED_SCHEDULE = "inngest/deferred.schedule"


class DeferStatus(enum.StrEnum):
    SCHEDULED = "scheduled"  # starts when the parent ends
    ABORTED = "aborted"  # the function took it back
    REJECTED = "rejected"  # refused by a rule (``reason`` says which)


@dataclass(frozen=True, slots=True)
class Defer:
    hashed_id: str
    fn_slug: str
    status: DeferStatus
    input: dict[str, Any] | None = None
    input_bytes: int = 0
    user_id: str = ""
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "hashed_id": self.hashed_id,
            "fn_slug": self.fn_slug,
            "status": self.status.value,
            "input": self.input,
            "input_bytes": self.input_bytes,
            "user_id": self.user_id,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Defer:
        return cls(
            hashed_id=str(raw["hashed_id"]),
            fn_slug=str(raw.get("fn_slug") or ""),
            status=DeferStatus(raw["status"]),
            input=raw.get("input"),
            input_bytes=int(raw.get("input_bytes") or 0),
            user_id=str(raw.get("user_id") or ""),
            reason=str(raw.get("reason") or ""),
        )


@dataclass(frozen=True, slots=True)
class RunDefers:
    """A run's defers in the order they were first reported; ``ended`` once the run ended
    (its scheduled defers were started then, and nothing more is recorded)."""

    defers: tuple[Defer, ...] = ()
    ended: bool = False

    def get(self, hashed_id: str) -> Defer | None:
        return next((d for d in self.defers if d.hashed_id == hashed_id), None)

    @property
    def scheduled(self) -> list[Defer]:
        return [d for d in self.defers if d.status is DeferStatus.SCHEDULED]

    def to_json(self) -> dict[str, Any]:
        return {"defers": [d.to_json() for d in self.defers], "ended": self.ended}

    @classmethod
    def from_json(cls, raw: Any) -> RunDefers:
        if not isinstance(raw, dict):
            return cls()
        items = raw.get("defers") or []
        return cls(tuple(Defer.from_json(d) for d in items), bool(raw.get("ended")))

    def request_map(self) -> dict[str, dict[str, bool]]:
        """The ``defers`` of a request to the SDK: what it must not report again, and
        whether each may still be aborted."""
        return {d.hashed_id: {"abortable": d.status is DeferStatus.SCHEDULED} for d in self.defers}


def add_defer(current: RunDefers, hashed_id: str, opts: Any, user_id: str = "") -> RunDefers:
    """``current`` with a ``DeferAdd`` applied: unchanged if it is known already (an SDK
    retransmit) or the run is at its count limit; else the defer, scheduled or rejected."""
    if current.ended or current.get(hashed_id) is not None:
        return current
    if len(current.defers) >= MAX_DEFERS_PER_RUN:
        return current
    fn_slug = opts.get("fn_slug") if isinstance(opts, dict) else None
    slug = fn_slug if isinstance(fn_slug, str) else ""
    problem, value, size = _input_problem(opts)
    if not slug:
        problem = "opts.fn_slug must be a non-empty string (the deferred function's slug)"
    if problem is None:
        used = sum(d.input_bytes for d in current.scheduled)
        if used + size > MAX_DEFER_INPUTS_BYTES:
            problem = (
                f"the run's deferred inputs would total {used + size} bytes, over the limit of "
                f"{MAX_DEFER_INPUTS_BYTES} bytes"
            )
    if problem is not None:
        added = Defer(hashed_id, slug, DeferStatus.REJECTED, user_id=user_id, reason=problem)
    else:
        added = Defer(hashed_id, slug, DeferStatus.SCHEDULED, value, size, user_id)
    return RunDefers((*current.defers, added), current.ended)


def abort_defer(current: RunDefers, opts: Any) -> RunDefers:
    """``current`` with a ``DeferAbort`` applied: the target, if scheduled, is aborted and
    its input dropped; an abort of an unknown or settled defer changes nothing."""
    target = opts.get("target_hashed_id") if isinstance(opts, dict) else None
    found = current.get(target) if isinstance(target, str) else None
    if current.ended or found is None or found.status is not DeferStatus.SCHEDULED:
        return current
    aborted = Defer(found.hashed_id, found.fn_slug, DeferStatus.ABORTED, user_id=found.user_id)
    return RunDefers(tuple(aborted if d is found else d for d in current.defers), current.ended)


def abort_problem(opts: Any) -> str | None:
    target = opts.get("target_hashed_id") if isinstance(opts, dict) else None
    if not isinstance(target, str) or not target:
        return "opts.target_hashed_id must be a non-empty string (the defer to abort)"
    return None


def _input_problem(opts: Any) -> tuple[str | None, dict[str, Any] | None, int]:
    raw = opts.get("input") if isinstance(opts, dict) else None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        return f"opts.input must be a JSON object, not {type(raw).__name__}", None, 0
    try:
        size = utf8_size(dumps(raw))
    except JsonValueError as exc:
        return f"opts.input is not JSON serialisable: {exc}", None, 0
    if size > MAX_DEFER_INPUT_BYTES:
        return f"opts.input is {size} bytes, over the limit of {MAX_DEFER_INPUT_BYTES}", None, 0
    return None, raw, size


def schedule_event_id(parent_run_id: str, hashed_id: str) -> str:
    """A stable id for a defer's event: the same defer never makes two."""
    return hashlib.sha1(f"{parent_run_id}{hashed_id}".encode()).hexdigest()


def schedule_event_data(defer: Defer, *, parent_fn_slug: str, parent_run_id: str) -> dict[str, Any]:
    """The data of the ``inngest/deferred.schedule`` event that starts ``defer``."""
    data = dict(defer.input or {})
    data["_inngest"] = {
        "fn_slug": defer.fn_slug,
        "parent_fn_slug": parent_fn_slug,
        "parent_run_id": parent_run_id,
        "hashed_defer_id": defer.hashed_id,
    }
    return data
