"""Identifiers: ULIDs, which sort by creation time like Inngest's run and event ids.

A ULID is 48 bits of Unix milliseconds and 80 random bits, written as 26 characters of
Crockford's base32. Made here in a few lines rather than with a library: python-ulid reads its
own package metadata when imported (importlib.metadata, ~40 ms of every start-up).
"""

from __future__ import annotations

import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two base32 digits per lookup: 26 characters in 13 steps.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]


def _encode(value: int) -> str:
    """128 bits as 26 base32 characters (the first holds the top 3 bits)."""
    out = []
    for _ in range(13):
        out.append(_PAIRS[value & 0x3FF])
        value >>= 10
    return "".join(reversed(out))


def ulid_from_bytes(raw: bytes) -> str:
    if len(raw) != 16:
        raise ValueError("a ULID is 16 bytes")
    return _encode(int.from_bytes(raw, "big"))


def new_ulid() -> str:
    millis = time.time_ns() // 1_000_000
    return _encode((millis << 80) | int.from_bytes(os.urandom(10), "big"))


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
