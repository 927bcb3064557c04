"""Memo formats (protocol.md §5.4): what is stored for each finished step.

A ``step.run`` result is wrapped ``{"data": value}``, a failure ``{"error": {...}}``; a finished
sleep is ``null`` and a matched ``wait_for_event`` is the bare event object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def wrap_data(value: Any) -> dict[str, Any]:
    return {"data": value}


def wrap_data_json(encoded: str) -> str:
    """``wrap_data`` of a value already written as compact JSON, as compact JSON."""
    return f'{{"data":{encoded}}}'


def wrap_error(error: dict[str, Any]) -> dict[str, Any]:
    return {"error": error}


@dataclass(frozen=True, slots=True)
class MemoValue:
    """A decoded memo: either a value or an error (never both)."""

    value: Any = None
    error: dict[str, Any] | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None


def decode_memo(stored: Any) -> MemoValue:
    """Read a memo the way the SDKs do: a lone ``data`` or ``error`` key is unwrapped."""
    if isinstance(stored, dict) and stored and set(stored) <= {"data", "error"}:
        error = stored.get("error")
        if isinstance(error, dict):
            return MemoValue(
                error={
                    "name": str(error.get("name") or "Error"),
                    "message": str(error.get("message") or error.get("error") or "Unknown error"),
                    **{k: v for k, v in error.items() if k not in ("name", "message")},
                }
            )
        if "data" in stored:
            return MemoValue(value=stored["data"])
    return MemoValue(value=stored)


INVOKE_TIMEOUT_ERROR = wrap_error(
    {
        "error": "InngestInvokeTimeoutError: Timed out waiting for invoked function to complete",
        "name": "InngestInvokeTimeoutError",
        "message": "Timed out waiting for invoked function to complete",
    }
)
