"""StepBuffer: an execution's steps committed in order, a batch at a time, bounded."""

from __future__ import annotations

import asyncio

import pytest

from stepwell.engine.step_buffer import StepBuffer


class Store:
    """A commit that waits to be let through, one batch at a time, recording the batches."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.gate = asyncio.Event()
        self.fail_next = False

    async def commit(self, batch: list[int]) -> None:
        await self.gate.wait()
        self.gate.clear()
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("conflict")
        self.batches.append(batch)


async def turns(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def test_steps_finished_during_a_commit_share_the_next_one_in_order() -> None:
    store = Store()
    buffer: StepBuffer[int] = StepBuffer(store.commit)
    await buffer.add(1)
    await turns()  # the first batch is on its way, held at the gate
    for n in (2, 3, 4):
        await buffer.add(n)
    assert not buffer.idle
    store.gate.set()
    await turns()
    store.gate.set()
    await buffer.settle()
    assert store.batches == [[1], [2, 3, 4]]
    assert buffer.idle


async def test_a_failed_commit_is_raised_by_the_next_step_and_by_settle() -> None:
    store = Store()
    store.fail_next = True
    buffer: StepBuffer[int] = StepBuffer(store.commit)
    await buffer.add(1)
    await turns()
    await buffer.add(2)  # buffered behind the batch that will fail
    store.gate.set()
    with pytest.raises(RuntimeError, match="conflict"):
        await buffer.settle()
    with pytest.raises(RuntimeError, match="conflict"):
        await buffer.add(3)
    assert store.batches == []  # nothing after the failure is committed


async def test_the_function_waits_once_limit_steps_are_uncommitted() -> None:
    store = Store()
    buffer: StepBuffer[int] = StepBuffer(store.commit, limit=3)
    await buffer.add(1)
    await turns()  # [1] on its way
    await buffer.add(2)
    third = asyncio.ensure_future(buffer.add(3))  # 3 uncommitted: waits for the batch
    await turns()
    assert not third.done()
    store.gate.set()  # [1] committed: the function goes on while [2, 3] commit
    await asyncio.wait_for(third, 5)
    assert store.batches == [[1]]
    store.gate.set()
    await buffer.settle()
    assert store.batches == [[1], [2, 3]]


async def test_flushes_are_tracked_and_a_cancelled_wait_leaves_the_commit_going() -> None:
    store = Store()
    tracked: list[asyncio.Future[None]] = []
    buffer: StepBuffer[int] = StepBuffer(store.commit, track=tracked.append)
    await buffer.add(1)
    waiter = asyncio.ensure_future(buffer.settle())
    await turns()
    waiter.cancel()
    await turns()
    store.gate.set()
    await asyncio.wait_for(tracked[0], 5)
    assert store.batches == [[1]]
    assert len(tracked) == 1


async def test_a_close_one_turn_after_the_step_takes_it_without_a_flush_task() -> None:
    """An execution that ends right after a step yields one turn on its way out (for the
    parallel steps it started); its close still finds no batch begun and takes the step."""
    store = Store()
    flushes: list[asyncio.Future[None]] = []
    buffer: StepBuffer[int] = StepBuffer(store.commit, track=flushes.append)
    await buffer.add(1)
    await asyncio.sleep(0)
    assert await buffer.close() == [1]
    assert flushes == []
    assert store.batches == []


async def test_a_function_that_goes_on_gets_its_step_flushed_within_two_turns() -> None:
    store = Store()
    flushes: list[asyncio.Future[None]] = []
    buffer: StepBuffer[int] = StepBuffer(store.commit, track=flushes.append)
    await buffer.add(1)
    await turns(2)
    assert len(flushes) == 1  # the batch is on its way while the function awaits
    store.gate.set()
    await buffer.settle()
    assert store.batches == [[1]]
