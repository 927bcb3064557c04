"""Every id and key the engine writes: queue items, pauses, flow-control state, idempotency.

They are stored, so their formats are a contract with every database already written: change
none of them. Code builds them with these constructors and reads them back with the parsers;
nothing else slices an id to learn what it is.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from stepwell.ports.records import RUN_DEFERS_STATE, RUN_METADATA_STATE, PauseKind

RunTimeoutKind = Literal["start", "finish"]


def digest(value: str, length: int = 16) -> str:
    """A short, stable digest of a user's key expression value (ids stay bounded)."""
    return hashlib.sha1(value.encode("utf-8")).hexdigest()[:length]


# -- queue items of a run ---------------------------------------------------------------------


def execute_item_id(run_id: str) -> str:
    """One execute item per run: a second request to run it re-arms the first."""
    return f"{run_id}:exec"


def sleep_item_id(run_id: str, step_hash: str) -> str:
    return f"{run_id}:sleep:{step_hash}"


def pause_timeout_item_id(run_id: str, step_hash: str) -> str:
    """The item that ends a pause (wait, invoke, signal) when it expires."""
    return f"{run_id}:timeout:{step_hash}"


def run_timeout_item_id(run_id: str, kind: RunTimeoutKind) -> str:
    """``timeouts.start`` / ``timeouts.finish`` of a run."""
    return f"{run_id}:{kind}-timeout"


# -- pauses -----------------------------------------------------------------------------------

_PAUSE_PREFIXES: dict[PauseKind, str] = {
    PauseKind.EVENT: "wait",
    PauseKind.INVOKE: "invoke",
    PauseKind.SIGNAL: "signal",
    PauseKind.CANCEL: "cancel",
}
_PAUSE_KINDS = {prefix: kind for kind, prefix in _PAUSE_PREFIXES.items()}


@dataclass(frozen=True, slots=True)
class PauseId:
    """A pause's id: ``<kind>:<run id>:<step hash>`` (a cancel's "step" is its index)."""

    kind: PauseKind
    run_id: str
    step: str

    def __str__(self) -> str:
        return f"{_PAUSE_PREFIXES[self.kind]}:{self.run_id}:{self.step}"

    @classmethod
    def parse(cls, text: str) -> PauseId:
        prefix, _, rest = text.partition(":")
        run_id, _, step = rest.partition(":")
        kind = _PAUSE_KINDS.get(prefix)
        if kind is None or not run_id or not step:
            raise ValueError(f"not a pause id: {text!r}")
        return cls(kind, run_id, step)


def pause_id(kind: PauseKind, run_id: str, step_hash: str) -> str:
    return str(PauseId(kind, run_id, step_hash))


def cancel_pause_id(run_id: str, index: int) -> str:
    """The pause of a run's ``cancel_on[index]`` rule."""
    return str(PauseId(PauseKind.CANCEL, run_id, str(index)))


def cancel_step(index: int) -> str:
    """What a cancel pause stores as its step hash: no step of the run has it."""
    return f"cancel:{index}"


# -- flow control -----------------------------------------------------------------------------


def debounce_item_id(slug: str, key_value: str) -> str:
    return f"debounce:{slug}:{digest(key_value)}"


def batch_item_id(slug: str, key_value: str) -> str:
    return f"batch:{slug}:{digest(key_value)}"


def cron_item_id(slug: str, cron: str) -> str:
    return f"cron:{slug}:{digest(cron, 12)}"


def gate_owner(kind: Literal["debounce", "batch", "cron"], slug: str) -> str:
    """The ``run_id`` column of a function-level item (no run exists yet)."""
    return f"{kind}:{slug}"


def rate_limit_key(slug: str, key_value: str) -> str:
    return f"rate:{slug}:{digest(key_value)}"


def singleton_key(slug: str, key_value: str) -> str:
    return f"singleton:{slug}:{digest(key_value)}"


def throttle_key(slug: str, index: int, key_value: str) -> str:
    return f"throttle:{slug}:{index}:{digest(key_value)}"


def concurrency_scope(slug: str, scope: str) -> str:
    """A concurrency rule's scope: ``fn:<slug>`` for the function's own, else as written."""
    return f"fn:{slug}" if scope == "fn" else scope


def concurrency_key(scope: str, key_value: str) -> str:
    return f"{scope}:{key_value}"


def slots_key(key: str) -> str:
    """Where processes sharing a database keep the holders of a concurrency key."""
    return f"slots:{key}"


def paused_key(slug: str) -> str:
    """The state that says a function is paused."""
    return f"paused:{slug}"


def metadata_key(run_id: str) -> str:
    """The state holding a run's metadata (``engine.run_metadata``)."""
    return f"{RUN_METADATA_STATE}{run_id}"


def defers_key(run_id: str) -> str:
    """The state holding a run's deferred runs (``core.defers.RunDefers``)."""
    return f"{RUN_DEFERS_STATE}{run_id}"


# -- idempotency ------------------------------------------------------------------------------


def event_idempotency_key(slug: str, event_id: str) -> str:
    """A run per (function, sender's event id) within 24 h."""
    return f"{slug}-{hashlib.sha1(event_id.encode('utf-8')).hexdigest()}"


def expression_idempotency_key(slug: str, value: str) -> str:
    """``idempotency`` set to an expression: a run per (function, value) within 24 h."""
    return f"{slug}-idem-{digest(value)}"
