"""The body of a call to an SDK app (protocol.md §5.2): the run's context, its events and its
stored steps, or, when they are too large to send, only what tells the SDK to fetch them."""

from __future__ import annotations

import json
from typing import Any

from stepwell.core.ids import new_ulid
from stepwell.core.limits import MAX_RUN_STATE_BYTES
from stepwell.ports.driver import ExecutionRequest

USE_API_THRESHOLD = 4 * 1024 * 1024 - 1024
MAX_BODY_BYTES = 4 * 1024 * 1024
"""Past this a call carries neither memos nor events: the SDK fetches them (§5.9)."""


class StateTooLarge(Exception):
    """The run's state is over the limit: no call is made, the run fails saying so."""


def call_body(
    request: ExecutionRequest,
    *,
    attempt: int,
    version: int,
    events_bytes: int | None,
    step_id: str,
    force_plan: bool,
) -> tuple[dict[str, Any], int]:
    """The call's JSON body, and the size of the run's events (measured once per execution:
    pass it back in as ``events_bytes``)."""
    steps = dict(request.memo)
    stack = list(steps)
    state_bytes = len(json.dumps(steps))
    if state_bytes > MAX_RUN_STATE_BYTES:
        raise StateTooLarge(
            f"the run's stored step results are {state_bytes} bytes, over the limit of "
            f"{MAX_RUN_STATE_BYTES} bytes"
        )
    use_api = state_bytes > USE_API_THRESHOLD
    events = request.events
    if events_bytes is None:
        # The first event is sent twice (``event`` and ``events[0]``).
        first = len(json.dumps(events[0])) if events else 2
        events_bytes = len(json.dumps(events)) + first
    if (0 if use_api else state_bytes) + events_bytes + 1024 > MAX_BODY_BYTES:
        # Too big to send as a whole (big events in a batch, say): as Inngest does, the
        # call then carries only the first event, and the SDK fetches the rest.
        use_api, events = True, []
    if use_api:
        steps = {}
    ctx = {
        "attempt": attempt,
        "disable_immediate_execution": force_plan or step_id != "step",
        "env": "",
        "fn_id": request.function_uuid,
        "max_attempts": request.max_attempts,
        "qi_id": request.item_id,
        "request_id": new_ulid(),
        "run_id": request.run_id,
        "stack": {"current": len(stack), "stack": stack},
        "step_id": "step",
        "use_api": use_api,
    }
    body = {
        "ctx": ctx,
        "event": request.events[0] if request.events else {},
        "events": events,
        "steps": steps,
        "use_api": use_api,
        "version": version,
        "defers": dict(request.defers),
    }
    return body, events_bytes
