"""ULIDs for run and event ids."""

from __future__ import annotations

import re

from ulid import ULID

from stepwell.core.ids import new_ulid

_CROCKFORD = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def test_new_ulid_is_a_canonical_ulid() -> None:
    value = new_ulid()
    assert _CROCKFORD.fullmatch(value)
    assert str(ULID.from_str(value)) == value


def test_new_ulids_are_distinct_and_time_ordered() -> None:
    values = [new_ulid() for _ in range(200)]
    assert len(set(values)) == len(values)
    # The 10-character timestamp prefix never goes backwards.
    prefixes = [value[:10] for value in values]
    assert prefixes == sorted(prefixes)
