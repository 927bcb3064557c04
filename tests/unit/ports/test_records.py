"""Record types of the store port."""

from __future__ import annotations

from dataclasses import fields

from stepwell.ports.records import ChangeSet


def test_a_change_set_is_empty_until_any_of_its_fields_holds_something() -> None:
    assert not ChangeSet()
    for field in fields(ChangeSet):
        changes = ChangeSet()
        getattr(changes, field.name).append(object())
        assert changes, field.name  # every field counts, including ones added later
