"""Events and waits that crossed: each committed while the other was being planned.

A plan reads, then commits. An event's plan looks for the pauses waiting on its name; a
``wait_for_event`` with ``lookback`` looks for recent events of its name. When the two are
planned at once, neither read sees the other's write, and the run would wait for an event
already stored. The committer keeps a short log of what each commit stored (events, and the
event pauses it created) and, after a commit, hands the planner the pairs that crossed it:

- an event whose commit began before, and ended after, a pause of its name was committed;
- a lookback pause committed after an event of its name, stored while the wait was planned.

Matching one again is safe: a pause is consumed at most once (the store refuses a second
consumption, and the committer plans again from fresh reads). In one process only; the log
holds the last ``LOG_LIMIT`` entries of each kind (a plan that waited longer than that many
commits may miss a crossing, as before).
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

from stepwell.ports.records import ChangeSet, Pause, PauseKind, StoredEvent

LOG_LIMIT = 4096


class Waiting(NamedTuple):
    """A pause as the log keeps it: its id and the event name it waits for (not the
    trigger event it holds, which may be large); the planner reads it back."""

    pause_id: str
    event_name: str


class Crossings:
    def __init__(self, limit: int = LOG_LIMIT) -> None:
        self._commits = 0
        # Events as (commit, name, internal id): small, whatever the events hold.
        self._events: deque[tuple[int, str, str]] = deque(maxlen=limit)
        self._pauses: deque[tuple[int, Waiting]] = deque(maxlen=limit)

    def mark(self) -> int:
        """Where the log stands as a plan starts reading."""
        return self._commits

    def record(self, changes: ChangeSet) -> None:
        """A commit just ended: log what it stored that another plan may have missed."""
        self._commits += 1
        count = self._commits
        self._events.extend((count, e.event.name, e.internal_id) for e in changes.events)
        for pause in changes.pauses:
            if pause.kind is PauseKind.EVENT:
                self._pauses.append((count, Waiting(pause.pause_id, pause.event_name)))

    def pauses_missed(self, changes: ChangeSet, mark: int) -> list[tuple[StoredEvent, Waiting]]:
        """Its events, each with the pauses of its name that were committed while the plan of
        ``changes`` (read at ``mark``, committed just now, not yet recorded) was made."""
        pairs: list[tuple[StoredEvent, Waiting]] = []
        if not changes.events or not self._pauses or self._pauses[-1][0] <= mark:
            return pairs
        names = {e.event.name for e in changes.events}
        for count, pause in reversed(self._pauses):
            if count <= mark:
                break
            if pause.event_name in names:
                pairs += [(e, pause) for e in changes.events if e.event.name == pause.event_name]
        return pairs

    def events_missed(self, looked_back: list[Pause], mark: int) -> list[tuple[str, Waiting]]:
        """The internal ids of the events committed after the lookback reads of a plan (read
        at ``mark``), each with the pause of its name that plan made."""
        pairs: list[tuple[str, Waiting]] = []
        if not looked_back or not self._events or self._events[-1][0] <= mark:
            return pairs
        waiting = {p.event_name: Waiting(p.pause_id, p.event_name) for p in looked_back}
        for count, name, internal_id in reversed(self._events):
            if count <= mark:
                break
            pause = waiting.get(name)
            if pause is not None:
                pairs.append((internal_id, pause))
        pairs.reverse()  # the earliest event first, as a pause takes the first that matches
        return pairs
