"""Generator opcodes (protocol.md §5.3): what an execution reports back to the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Opcode(StrEnum):
    STEP = "Step"
    STEP_RUN = "StepRun"
    STEP_ERROR = "StepError"
    STEP_FAILED = "StepFailed"
    STEP_PLANNED = "StepPlanned"
    SLEEP = "Sleep"
    WAIT_FOR_EVENT = "WaitForEvent"
    INVOKE_FUNCTION = "InvokeFunction"
    AI_GATEWAY = "AIGateway"
    GATEWAY = "Gateway"
    WAIT_FOR_SIGNAL = "WaitForSignal"
    RUN_COMPLETE = "RunComplete"
    STEP_NOT_FOUND = "StepNotFound"
    DISCOVERY_REQUEST = "DiscoveryRequest"
    DEFER_ADD = "DeferAdd"
    DEFER_ABORT = "DeferAbort"

    @classmethod
    def parse(cls, name: str) -> Opcode:
        """Op names are matched case-insensitively on the wire (``AiGateway`` == ``AIGateway``)."""
        lowered = name.lower()
        for member in cls:
            if member.value.lower() == lowered:
                return member
        raise ValueError(f"unknown opcode {name!r}")


@dataclass(slots=True)
class Op:
    """One opcode: ``id`` is the hashed step id, ``name`` the user step id (or op payload)."""

    op: Opcode
    id: str
    name: str = ""
    display_name: str = ""
    opts: dict[str, Any] = field(default_factory=dict)
    data: Any = None
    error: dict[str, Any] | None = None
    encoded_data: str | None = field(default=None, compare=False, repr=False)
    """``data`` as compact JSON, when whoever made the op already encoded it (our SDK, in
    process): not on the wire; it spares the store a second encoding of every result."""
    duration_ms: int | None = field(default=None, compare=False, repr=False)
    """How long the step's work took, when whoever ran it measured it (our SDK in process,
    the HTTP driver's targeted call of a parallel step): not on the wire; the trace draws
    steps that ran side by side as overlapping."""
    metadata: list[dict[str, Any]] = field(default_factory=list, compare=False, repr=False)
    """Run metadata the SDK attached to the step (TS 4.x: ``{kind, scope, op, values}`` each),
    as sent: checked and stored by the engine (``engine.run_metadata``)."""

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "op": self.op.value,
            "id": self.id,
            "name": self.name,
            "displayName": self.display_name or self.name,
            "opts": self.opts or None,
            "data": self.data,
        }
        if self.error is not None:
            wire["error"] = self.error
        if self.metadata:
            wire["metadata"] = self.metadata
        return wire

    @classmethod
    def from_wire(cls, raw: Any) -> Op:
        """An op as an SDK writes it; ``ValueError`` naming the field if it is not one."""
        if not isinstance(raw, dict):
            raise ValueError(f"an op must be an object, got {type(raw).__name__}")
        opcode = raw.get("op")
        if not isinstance(opcode, str):
            raise ValueError("op: expected an opcode name such as 'StepRun'")
        opts = raw.get("opts")
        if opts is not None and not isinstance(opts, dict):
            raise ValueError(f"opts: expected an object, got {type(opts).__name__}")
        error = raw.get("error")
        if isinstance(error, str):
            error = {"name": "Error", "message": error}
        elif error is not None and not isinstance(error, dict):
            raise ValueError(f"error: expected an object, got {type(error).__name__}")
        name = _text(raw, "name")
        metadata = raw.get("metadata")
        # Not the op's substance: a malformed list is dropped here, a bad entry by the engine.
        entries = [m for m in metadata if isinstance(m, dict)] if isinstance(metadata, list) else []
        return cls(
            op=Opcode.parse(opcode),
            id=_text(raw, "id"),
            name=name,
            display_name=_text(raw, "displayName") or name,
            opts=dict(opts or {}),
            data=raw.get("data"),
            error=error,
            metadata=entries,
        )


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {type(value).__name__}")
    return value
