"""``ctx.group.parallel``: run several steps together and take all their results, or the first.

In process the branches are tasks, as with ``asyncio.gather``. Over HTTP the steps they reach
together are planned (protocol.md, parallel steps); in a race each planned step carries
``parallelMode: "race"``, so the server moves on after the first result and stores the others
when they finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, TypeVar, overload

from stepwell.core.errors import ConfigError
from stepwell.sdk.runtime import StepSession, parallel_mode, reached_steps

__all__ = ["Group", "ParallelMode", "SyncGroup"]

T = TypeVar("T")
ParallelMode = Literal["all", "race"]


def _checked(mode: str, count: int) -> None:
    if mode not in ("all", "race"):
        raise ConfigError(f"mode must be 'all' or 'race', not {mode!r}")
    if mode == "race" and count == 0:
        raise ConfigError("a race needs at least one callable")


async def _branch(call: Callable[[], Awaitable[T]]) -> T:
    return await call()


async def _raced(call: Callable[[], Awaitable[T]], hits: list[str]) -> T:
    reached_steps.set(hits)  # this task's own context: only its steps land in ``hits``
    return await call()


def _stored_at(order: dict[str, int], hits: list[str]) -> float:
    """When a branch finished, as the memo tells it: the position of the last step it reached
    (a step run now is added to the memo as it is stored, so it counts in order too)."""
    if not hits or any(h not in order for h in hits):
        return float("inf")
    return float(max(order[h] for h in hits))


def _retrieve(task: asyncio.Future[Any]) -> None:
    # A race's losers finish on their own; what they raise is theirs, not the function's.
    if not task.cancelled():
        task.exception()


class Group:
    """``ctx.group`` for ``async def`` functions."""

    def __init__(self, session: StepSession | None = None) -> None:
        self._session = session

    @overload
    async def parallel(
        self, callables: Sequence[Callable[[], Awaitable[T]]], mode: Literal["all"] = "all"
    ) -> list[T]: ...

    @overload
    async def parallel(
        self, callables: Sequence[Callable[[], Awaitable[T]]], mode: Literal["race"]
    ) -> T: ...

    async def parallel(
        self, callables: Sequence[Callable[[], Awaitable[T]]], mode: ParallelMode = "all"
    ) -> list[T] | T:
        """Run ``callables`` (each returning a step's awaitable) together. ``"all"``: every
        result, in order. ``"race"``: the first result; the others still finish and are stored.
        When a replay finds several already stored, the one stored first wins, as it did
        the first time: the winner never changes on replay."""
        _checked(mode, len(callables))
        if mode == "all":
            return list(await asyncio.gather(*(_branch(call) for call in callables)))
        hits: list[list[str]] = [[] for _ in callables]
        token = parallel_mode.set("race")  # each task copies the context it is created in
        try:
            tasks = [
                asyncio.ensure_future(_raced(call, seen))
                for call, seen in zip(callables, hits, strict=True)
            ]
        finally:
            parallel_mode.reset(token)
        for task in tasks:
            task.add_done_callback(_retrieve)
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        # The memo keeps the order results were stored in (``load_memo``).
        memo = self._session.request.memo if self._session is not None else {}
        order = {hashed: index for index, hashed in enumerate(memo)}
        finished = [(i, task) for i, task in enumerate(tasks) if task in done]
        _, winner = min(finished, key=lambda pair: (_stored_at(order, hits[pair[0]]), pair[0]))
        return winner.result()


class SyncGroup:
    """``ctx.group`` for plain ``def`` functions: one thread reaches one step at a time, so
    the branches run in turn; a race returns the first branch's result."""

    def __init__(self, session: StepSession | None = None) -> None:
        self._session = session

    @overload
    def parallel(
        self, callables: Sequence[Callable[[], T]], mode: Literal["all"] = "all"
    ) -> list[T]: ...

    @overload
    def parallel(self, callables: Sequence[Callable[[], T]], mode: Literal["race"]) -> T: ...

    def parallel(
        self, callables: Sequence[Callable[[], T]], mode: ParallelMode = "all"
    ) -> list[T] | T:
        _checked(mode, len(callables))
        results = [call() for call in callables]
        return results if mode == "all" else results[0]
