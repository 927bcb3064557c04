"""The event model (protocol.md §2.2) and the names of the system events (§7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INTERNAL_PREFIX = "inngest/"
FUNCTION_FINISHED = "inngest/function.finished"
FUNCTION_FAILED = "inngest/function.failed"
FUNCTION_CANCELLED = "inngest/function.cancelled"
FUNCTION_INVOKED = "inngest/function.invoked"
SCHEDULED_TIMER = "inngest/scheduled.timer"


@dataclass(slots=True)
class Event:
    """An event. ``id`` is the optional user idempotency key; ``ts`` is milliseconds since epoch."""

    name: str
    data: dict[str, Any] = field(default_factory=dict)
    id: str = ""
    ts: int = 0
    user: dict[str, Any] = field(default_factory=dict)
    v: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "name": self.name,
            "data": self.data,
            "id": self.id,
            "ts": self.ts,
            "user": self.user,
        }
        if self.v is not None:
            wire["v"] = self.v
        return wire

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Event:
        return cls(
            name=raw["name"],
            data=raw.get("data") or {},
            id=raw.get("id") or "",
            ts=int(raw.get("ts") or 0),
            user=raw.get("user") or {},
            v=raw.get("v"),
        )


def is_internal_name(name: str) -> bool:
    return name.lower().startswith(INTERNAL_PREFIX)
