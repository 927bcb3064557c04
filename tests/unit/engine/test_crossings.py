"""The crossing log (engine/crossings.py): which events and waits a plan could not see."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stepwell.engine.crossings import Crossings, Waiting
from stepwell.ports.records import ChangeSet, Pause, PauseKind, StoredEvent
from stepwell.protocol.events import Event


def _event(internal_id: str, name: str = "a/b") -> StoredEvent:
    return StoredEvent(internal_id, Event(name, {}, "", 1), 1)


def _pause(pause_id: str, name: str = "a/b", kind: PauseKind = PauseKind.EVENT) -> Pause:
    return Pause(pause_id, "run-" + pause_id, "h", kind, name, expires_at=10**13)


def test_an_event_planned_while_a_pause_of_its_name_committed_is_paired_with_it() -> None:
    log = Crossings()
    mark = log.mark()  # the event's plan reads here
    log.record(ChangeSet(pauses=[_pause("p1"), _pause("p2", name="other/name")]))
    event = _event("e1")
    assert log.pauses_missed(ChangeSet(events=[event]), mark) == [(event, Waiting("p1", "a/b"))]
    # A plan that read after that commit saw the pause itself.
    assert log.pauses_missed(ChangeSet(events=[event]), log.mark()) == []


def test_only_event_pauses_count() -> None:
    log = Crossings()
    mark = log.mark()
    log.record(ChangeSet(pauses=[_pause("c", kind=PauseKind.CANCEL)]))
    assert log.pauses_missed(ChangeSet(events=[_event("e")]), mark) == []


def test_a_lookback_pause_gets_the_events_committed_after_its_read_earliest_first() -> None:
    log = Crossings()
    log.record(ChangeSet(events=[_event("before")]))  # seen by the lookback read itself
    mark = log.mark()
    log.record(ChangeSet(events=[_event("e1"), _event("x", name="other/name")]))
    log.record(ChangeSet(events=[_event("e2")]))
    pause = _pause("p")
    waiting = Waiting("p", "a/b")
    assert log.events_missed([pause], mark) == [("e1", waiting), ("e2", waiting)]
    assert log.events_missed([], mark) == []


@given(st.lists(st.booleans(), max_size=30), st.integers(min_value=0, max_value=30))
def test_the_log_pairs_exactly_what_came_after_the_mark(kinds: list[bool], at: int) -> None:
    """Commits of one pause or one event each: what a plan read at ``at`` commits missed."""
    log = Crossings(limit=64)
    mark = 0
    for i, is_pause in enumerate(kinds):
        if i == at:
            mark = log.mark()
        if is_pause:
            log.record(ChangeSet(pauses=[_pause(f"p{i}")]))
        else:
            log.record(ChangeSet(events=[_event(f"e{i}")]))
    if at >= len(kinds):
        mark = log.mark()
    later = kinds[at:]
    event = _event("new")
    missed = log.pauses_missed(ChangeSet(events=[event]), mark)
    assert [p.pause_id for _, p in missed] == [
        f"p{at + j}" for j in reversed(range(len(later))) if later[j]
    ]
    pause = _pause("new")
    assert [i for i, _ in log.events_missed([pause], mark)] == [
        f"e{at + j}" for j in range(len(later)) if not later[j]
    ]
