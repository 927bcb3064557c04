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
        return wire

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Op:
        return cls(
            op=Opcode.parse(str(raw["op"])),
            id=str(raw.get("id") or ""),
            name=str(raw.get("name") or ""),
            display_name=str(raw.get("displayName") or raw.get("name") or ""),
            opts=dict(raw.get("opts") or {}),
            data=raw.get("data"),
            error=raw.get("error"),
        )
