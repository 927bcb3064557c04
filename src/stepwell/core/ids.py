"""Identifiers: ULIDs, which sort by creation time like Inngest's run and event ids."""

from __future__ import annotations

from ulid import ULID


def new_ulid() -> str:
    return str(ULID())


def ulid_from_seed(millis: int, entropy: bytes, index: int) -> str:
    """The id of event ``index`` of a batch sent with ``X-Inngest-Event-Id-Seed`` (§2.3).

    Deterministic, so an SDK retrying a send gets the same ids: the 10 entropy bytes with
    bytes 6..10, read as a big-endian uint32, increased by ``index``.
    """
    if len(entropy) != 10:
        raise ValueError("the seed's entropy must be 10 bytes")
    counter = (int.from_bytes(entropy[6:10], "big") + index) % (1 << 32)
    mixed = entropy[:6] + counter.to_bytes(4, "big")
    return str(ULID.from_bytes(millis.to_bytes(6, "big") + mixed))
