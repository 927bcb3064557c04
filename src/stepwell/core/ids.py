"""Identifiers: ULIDs, which sort by creation time like Inngest's run and event ids.

A ULID is 48 bits of Unix milliseconds and 80 random bits, written as 26 characters of
Crockford's base32. Made here in a few lines rather than with a library: python-ulid reads its
own package metadata when imported (importlib.metadata, ~40 ms of every start-up).

Ids made by this process are strictly increasing, as python-ulid's are: within one millisecond
(or if the clock steps back) the next id is the last one plus one, so events sent in the same
millisecond keep their order in lists paged by id.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
# Three base32 digits (15 bits) per lookup: 26 characters as one pair and eight triples, with
# no loop (an id is made for every event and run: a hot path). Made at the first id, not at
# import (32,768 strings take ~3 ms).
_TRIPLES: list[str] = []


def _encode(value: int) -> str:
    """128 bits as 26 base32 characters (the first holds the top 3 bits)."""
    t = _TRIPLES
    if not t:
        # Built whole, then put in place at once: a thread racing here sees none or all.
        t[:] = [a + b + c for a in _ALPHABET for b in _ALPHABET for c in _ALPHABET]
    return (
        _PAIRS[value >> 120]
        + t[(value >> 105) & 0x7FFF]
        + t[(value >> 90) & 0x7FFF]
        + t[(value >> 75) & 0x7FFF]
        + t[(value >> 60) & 0x7FFF]
        + t[(value >> 45) & 0x7FFF]
        + t[(value >> 30) & 0x7FFF]
        + t[(value >> 15) & 0x7FFF]
        + t[value & 0x7FFF]
    )


def ulid_from_bytes(raw: bytes) -> str:
    if len(raw) != 16:
        raise ValueError("a ULID is 16 bytes")
    return _encode(int.from_bytes(raw, "big"))


_RANDOM_BITS = 80
_lock = threading.Lock()
_last = 0

# Random bits for many ids from one os.urandom: it releases the GIL for its system call, and
# under load the event loop then waits up to a switch interval (5 ms) to take the GIL back
# from the SQLite writer's thread; that wait was most of an id's cost.
_POOL_BYTES = 10 * 256
_pool = b""
_pool_at = 0


def _random_bits() -> int:
    """80 random bits (under ``_lock``)."""
    global _pool, _pool_at
    at = _pool_at
    if at >= len(_pool):
        _pool, at = os.urandom(_POOL_BYTES), 0
    _pool_at = at + 10
    return int.from_bytes(_pool[at : at + 10], "big")


def _forget_pool() -> None:
    """A forked child draws its own bits: its parent's pool, shared, would repeat ids."""
    global _pool, _pool_at
    _pool, _pool_at = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def _reserve(count: int) -> int:
    """The first of ``count`` consecutive id values after every one made so far."""
    global _last
    millis = time.time_ns() // 1_000_000
    with _lock:
        if millis <= _last >> _RANDOM_BITS:
            first = _last + 1  # same millisecond, or the clock went back: keep increasing
        else:  # randomness only where it is used: the first id of each millisecond
            first = (millis << _RANDOM_BITS) | _random_bits()
        _last = first + count - 1
    return first


def new_ulid() -> str:
    return _encode(_reserve(1))


def new_ulids(count: int) -> list[str]:
    """``count`` ids, as many calls of ``new_ulid`` would make them, for a batch of events:
    one clock read and one lock, and the ids are consecutive, so all but their last three
    characters are shared until the low 15 bits wrap (encoded once per wrap)."""
    if count <= 0:
        return []
    first = _reserve(count)
    prefix = _encode(first)[:-3]  # builds the table on the first call
    t = _TRIPLES
    low = first & 0x7FFF
    if low + count <= 0x8000:  # no wrap: nearly always, for batches of thousands or fewer
        return [prefix + last for last in t[low : low + count]]
    ids: list[str] = []
    append = ids.append
    high = first >> 15
    for value in range(first, first + count):
        if value >> 15 != high:
            high = value >> 15
            prefix = _encode(value)[:-3]
        append(prefix + t[value & 0x7FFF])
    return ids


def ulid_from_seed(millis: int, entropy: bytes, index: int) -> str:
    """The id of event ``index`` of a batch sent with ``X-Inngest-Event-Id-Seed`` (§2.3).

    Deterministic, so an SDK retrying a send gets the same ids: the 10 entropy bytes with
    bytes 6..10, read as a big-endian uint32, increased by ``index``.
    """
    if len(entropy) != 10:
        raise ValueError("the seed's entropy must be 10 bytes")
    counter = (int.from_bytes(entropy[6:10], "big") + index) % (1 << 32)
    mixed = entropy[:6] + counter.to_bytes(4, "big")
    return ulid_from_bytes(millis.to_bytes(6, "big") + mixed)
