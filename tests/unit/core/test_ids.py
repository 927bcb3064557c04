"""ULIDs for run and event ids."""

from __future__ import annotations

import os
import re
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from ulid import ULID

from stepwell.core import ids as ids_module
from stepwell.core.ids import new_ulid, new_ulids, ulid_from_bytes, ulid_from_seed

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


@settings(max_examples=500)
@given(st.binary(min_size=16, max_size=16))
def test_encoding_matches_python_ulid(raw: bytes) -> None:
    # Our few-line encoder against the reference library (now a test dependency only).
    assert ulid_from_bytes(raw) == str(ULID.from_bytes(raw))


def test_new_ulid_carries_the_current_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    value = new_ulid()
    after = time.time_ns() // 1_000_000
    assert before <= ULID.from_str(value).milliseconds <= after


@given(st.integers(0, 2**48 - 1), st.binary(min_size=10, max_size=10), st.integers(0, 999))
def test_seeded_ids_keep_their_time_and_differ_by_index(
    millis: int, entropy: bytes, index: int
) -> None:
    first, following = (
        ulid_from_seed(millis, entropy, index),
        ulid_from_seed(millis, entropy, index + 1),
    )
    assert ULID.from_str(first).milliseconds == millis
    assert first != following


def test_ids_made_in_one_millisecond_keep_increasing() -> None:
    # Many ids per millisecond: each must sort after the one before, as python-ulid's do.
    values = [new_ulid() for _ in range(5_000)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_ids_keep_increasing_across_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        batches = list(pool.map(lambda _: [new_ulid() for _ in range(2_000)], range(4)))
    every = [value for batch in batches for value in batch]
    assert len(set(every)) == len(every)
    for batch in batches:
        assert batch == sorted(batch)


@given(st.integers(1, 3_000), st.integers(0, 2**15 - 1))
def test_a_batch_of_ids_is_consecutive_ulids(count: int, low: int) -> None:
    # From a chosen low 15 bits, so batches cross the point where the shared prefix changes:
    # the last id made is set a minute ahead (put back after, for the ids of other tests).
    saved = ids_module._last
    ids_module._last = (((time.time_ns() // 1_000_000 + 60_000) << 80) | low) - 1
    try:
        values = new_ulids(count)
        following = new_ulid()
    finally:
        ids_module._last = saved
    first = ULID.from_str(values[0])
    assert [str(ULID.from_int(int(first) + i)) for i in range(count)] == values
    assert following > values[-1]


def test_a_forked_child_draws_its_own_random_bits() -> None:
    new_ulid()  # the parent's pool of random bits is filled
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: whether it would draw afresh
        os.write(write_end, b"1" if ids_module._pool == b"" else b"0")
        os._exit(0)
    os.close(write_end)
    try:
        assert os.read(read_end, 1) == b"1"
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
