"""Record types of the store port."""

from __future__ import annotations

from dataclasses import fields

from stepwell.ports.records import ChangeSet


def test_a_change_set_is_empty_until_any_of_its_lists_holds_something() -> None:
    assert not ChangeSet()
    lists = [f.name for f in fields(ChangeSet) if f.name not in ("urgent", "user_events")]
    assert len(lists) == 14
    for name in lists:
        changes = ChangeSet()
        getattr(changes, name).append(object())
        assert changes, name  # every list counts, including ones added later


def test_urgency_alone_writes_nothing() -> None:
    assert not ChangeSet(urgent=True)
    assert not ChangeSet(user_events=3)  # a count of what the events hold, not a change
