"""Catching a function that takes another path on replay (non-determinism).

A replay must reach every step the earlier executions stored before it reaches new work. When
it reaches a new step while stored ones are still unreached, that alone is not proof: parallel
branches replay in task order, so a sibling may simply not have run yet. ``Divergence`` lets
the loop turn until the replay is calm, then compares the *set* of stored steps reached with
the stored set (never their order): what is left unreached means the code went elsewhere.
"""

from __future__ import annotations

import asyncio
import logging

from stepwell.core.errors import NonRetriableError

__all__ = ["Divergence", "NonDeterminismError"]

log = logging.getLogger("stepwell.determinism")

_MAX_TURNS = 50
_CALM_TURNS = 3
_NAMES_KEPT = 10_000

# Hashed step id → the id it hashes: the memo holds hashes only, and SHA-1 cannot be undone.
# A pure function of the id, so sharing it between runs of this process reveals nothing.
_names: dict[str, str] = {}


def remember_name(hashed: str, unique: str) -> None:
    if len(_names) >= _NAMES_KEPT:
        _names.pop(next(iter(_names)))
    _names[hashed] = unique


def step_name(hashed: str) -> str:
    """The step's id when this process has seen it, else its hash."""
    return _names.get(hashed, f"<step {hashed}>")


class NonDeterminismError(NonRetriableError):
    """A replay reached a new step while steps stored earlier were never reached."""

    def __init__(self, new_step: str, missing_step: str) -> None:
        super().__init__(
            f"non-deterministic function: the replay reached new step {new_step!r}, but stored "
            f"step {missing_step!r} was never reached (step ids or the path taken changed "
            "between executions; pass strict_determinism=False to only warn)"
        )
        self.new_step = new_step
        self.missing_step = missing_step


class Divergence:
    """What one execution has replayed of the memo, and whether it went elsewhere."""

    def __init__(self, stored: list[str]) -> None:
        self._stored = stored  # in storage order: the first unreached one is named
        self.unreached = set(stored)
        self.reached_new = False
        self.strict = True
        self.error: NonDeterminismError | None = None
        self._suspect: str | None = None
        self._judged = False

    @property
    def replaying(self) -> bool:
        """Stored steps are still ahead and no new work was reached yet."""
        return bool(self.unreached) and not self.reached_new

    def reached(self, hashed: str) -> None:
        self.unreached.discard(hashed)

    def new_step(self, unique: str) -> None:
        if self.unreached and self._suspect is None:
            self._suspect = unique
        self.reached_new = True

    async def calm(self) -> None:
        """Let sibling branches replay until a few loop turns reach no more stored steps."""
        last, calm = -1, 0
        for _ in range(_MAX_TURNS):
            if not self.unreached or self._suspect is None:
                return
            calm = calm + 1 if len(self.unreached) == last else 0
            if calm >= _CALM_TURNS:
                return
            last = len(self.unreached)
            await asyncio.sleep(0)

    async def check(self) -> None:
        """Before new work: raise ``NonDeterminismError`` (strict) if the replay went elsewhere."""
        await self.calm()
        self.check_now()

    async def verdict(self) -> NonDeterminismError | None:
        await self.calm()
        return self.judge()

    def check_now(self) -> None:
        error = self.judge()
        if error is not None:
            raise error

    def judge(self) -> NonDeterminismError | None:
        """Once, after ``calm``: the error to fail with (strict), or a logged warning."""
        if self._suspect is None or not self.unreached or self._judged:
            return self.error
        self._judged = True
        missing = next(h for h in self._stored if h in self.unreached)
        error = NonDeterminismError(self._suspect, step_name(missing))
        if self.strict:
            self.error = error
        else:
            log.warning("%s", error)
        return self.error
