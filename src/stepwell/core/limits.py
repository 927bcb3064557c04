"""Limits shared by every path into the engine (protocol.md §2.2, §5.3, §5.8)."""

from __future__ import annotations

from typing import Any

from stepwell.core.json_values import JsonValueError, dumps, utf8_size

KIB = 1024
MIB = 1024 * KIB

DEFAULT_MAX_EVENT_BYTES = 512 * KIB
MAX_STEP_OUTPUT_BYTES = 4 * MIB
MAX_RUN_STATE_BYTES = 32 * MIB
"""All of a run's stored step results together (Inngest's limit): past it the run fails."""
DEFAULT_RETRIES = 4
MAX_RETRIES = 20
IDEMPOTENCY_PERIOD_MS = 24 * 3600 * 1000
MAX_SLEEP_MS = 366 * 24 * 3600 * 1000
DEFAULT_INVOKE_TIMEOUT_MS = 365 * 24 * 3600 * 1000
MAX_EVENT_NAME_LENGTH = 512


def step_output_problem(step_id: str, value: Any) -> str | None:
    """Why a step's result cannot be stored (not strict JSON, over 4 MiB), or None."""
    return checked_step_output(step_id, value)[1]


def checked_step_output(step_id: str, value: Any) -> tuple[str | None, str | None]:
    """``(the result as compact JSON, None)`` if it can be stored, else ``(None, why not)``.

    The JSON is the form stores write, so a caller that keeps it need not encode it again.
    """
    try:
        text = dumps(value)
    except JsonValueError as exc:
        return None, f"step {step_id!r} returned a value that is not JSON serialisable: {exc}"
    size = utf8_size(text)
    if size > MAX_STEP_OUTPUT_BYTES:
        return None, (
            f"step {step_id!r} returned {size} bytes, over the limit of "
            f"{MAX_STEP_OUTPUT_BYTES} bytes"
        )
    return text, None
