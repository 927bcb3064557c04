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


class MemoSize:
    """The size of a run's memo as ``json.dumps`` writes it, kept across an execution's calls.

    Every call checks the memo against the state limit. Encoding the whole memo for that on
    each call cost ~5 % of the server's CPU per step with an SDK that replays (the official
    Python one: one call per step, the memo growing by one step each time). Each entry is
    measured once here, again only when its value is replaced; the memo's size is then their
    sum, exactly ``len(json.dumps(memo))``.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Any, int]] = {}

    def of(self, memo: dict[str, Any]) -> int:
        entries = self._entries
        total = 0
        for key, value in memo.items():
            known = entries.get(key)
            if known is None or known[0] is not value:
                # '"key": value', as in the whole dict's encoding (", " between entries).
                known = (value, len(json.dumps({key: value})) - 2)
                entries[key] = known
            total += known[1]
        if len(entries) > len(memo):  # an entry was taken out (not done today): forget it
            self._entries = {key: entries[key] for key in memo}
        return total + 2 * len(memo) if memo else 2  # "{" "}" and the ", " between them


def call_body(
    request: ExecutionRequest,
    *,
    attempt: int,
    version: int,
    events_bytes: int | None,
    step_id: str,
    force_plan: bool,
    memo_size: MemoSize | None = None,
) -> tuple[dict[str, Any], int]:
    """The call's JSON body, and the size of the run's events (measured once per execution:
    pass it back in as ``events_bytes``; likewise ``memo_size`` for the memo's)."""
    steps = dict(request.memo)
    stack = list(steps)
    state_bytes = len(json.dumps(steps)) if memo_size is None else memo_size.of(steps)
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
