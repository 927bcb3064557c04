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

from stepwell.sdk.runtime import parallel_mode

__all__ = ["Group", "ParallelMode", "SyncGroup"]

T = TypeVar("T")
ParallelMode = Literal["all", "race"]


def _checked(mode: str, count: int) -> None:
    if mode not in ("all", "race"):
        raise ValueError(f"mode must be 'all' or 'race', not {mode!r}")
    if mode == "race" and count == 0:
        raise ValueError("a race needs at least one callable")


async def _branch(call: Callable[[], Awaitable[T]]) -> T:
    return await call()


def _retrieve(task: asyncio.Future[Any]) -> None:
    # A race's losers finish on their own; what they raise is theirs, not the function's.
    if not task.cancelled():
        task.exception()


class Group:
    """``ctx.group`` for ``async def`` functions."""

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
        When a replay finds several already stored, the first in order wins."""
        _checked(mode, len(callables))
        if mode == "all":
            return list(await asyncio.gather(*(_branch(call) for call in callables)))
        token = parallel_mode.set("race")  # each task copies the context it is created in
        try:
            tasks = [asyncio.ensure_future(_branch(call)) for call in callables]
        finally:
            parallel_mode.reset(token)
        for task in tasks:
            task.add_done_callback(_retrieve)
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        winner = next(task for task in tasks if task in done)
        return winner.result()


class SyncGroup:
    """``ctx.group`` for plain ``def`` functions: one thread reaches one step at a time, so
    the branches run in turn; a race returns the first branch's result."""

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
