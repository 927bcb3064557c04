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


def new_ulid() -> str:
    global _last
    millis = time.time_ns() // 1_000_000
    with _lock:
        if millis <= _last >> _RANDOM_BITS:
            value = _last + 1  # same millisecond, or the clock went back: keep increasing
        else:  # randomness only where it is used: the first id of each millisecond
            value = (millis << _RANDOM_BITS) | int.from_bytes(os.urandom(10), "big")
        _last = value
    return _encode(value)


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
