"""Identifiers: ULIDs, which sort by creation time like Inngest's run and event ids."""

from __future__ import annotations

from ulid import ULID


def new_ulid() -> str:
    return str(ULID())
