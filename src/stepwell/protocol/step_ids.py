"""Step identifiers (protocol.md §5.5).

On the wire a step is named by the SHA-1 of its user-facing id. When one execution reuses an
id, the repeats become ``id:1``, ``id:2``… so that every step still has a unique key.
"""

from __future__ import annotations

import hashlib

STEP_INDEX_SEPARATOR = ":"


def hash_step_id(step_id: str) -> str:
    """Lowercase hex SHA-1 of the UTF-8 step id."""
    return hashlib.sha1(step_id.encode("utf-8")).hexdigest()


class StepIdAllocator:
    """Hands out unique step ids in call order for one execution of a function."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}

    def allocate(self, step_id: str) -> tuple[str, str]:
        """Return ``(unique_id, hashed_id)`` for the next use of ``step_id``."""
        count = self._seen.get(step_id)
        if count is None:
            self._seen[step_id] = 0
            unique = step_id
        else:
            count += 1
            self._seen[step_id] = count
            unique = f"{step_id}{STEP_INDEX_SEPARATOR}{count}"
            # A user id that itself looks like "a:1" must not collide with the repeat of "a".
            while unique in self._seen:
                count += 1
                self._seen[step_id] = count
                unique = f"{step_id}{STEP_INDEX_SEPARATOR}{count}"
            self._seen[unique] = 0
        return unique, hash_step_id(unique)
