"""ConcurrencyGate (protocol.md §3.4.2): holders per key never exceed the limit, FIFO per key.

Two kinds of test. A model test drives single-key workers through generated operations
(request, release, cancel) and, after each one, compares who is inside with a reference model:
that checks the limit, FIFO order per key, independence of keys and cancellation exactly. A
stress test runs multi-key workers for random numbers of loop turns and checks the invariants.
Time never passes: everything moves by ``asyncio.sleep(0)`` turns, and every run is bounded.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import example, given, settings
from hypothesis import strategies as st

from stepwell.engine.concurrency import ConcurrencyGate

SETTINGS = settings(max_examples=120, derandomize=True, database=None, deadline=None)
KEYS = ("a", "b", "c")
SETTLE_TURNS = 12
SCENARIO_TIMEOUT_S = 10.0


async def settle() -> None:
    """Let every woken task run as far as it can (a bounded number of loop turns)."""
    for _ in range(SETTLE_TURNS):
        await asyncio.sleep(0)


@dataclass(eq=False)
class Worker:
    wid: int
    keys: list[tuple[str, int]]
    release: asyncio.Event = field(default_factory=asyncio.Event)
    before_exit: Callable[[], object] | None = None
    """Runs inside the block right before leaving it: in the step that releases the slot."""
    after_exit: Callable[[], object] | None = None
    """Runs right after the block released its slots, before anything else may run."""
    task: asyncio.Task[None] | None = None
    entered: bool = False


class Harness:
    """Workers holding the gate, with a record of who is inside per key."""

    def __init__(self) -> None:
        self.gate = ConcurrencyGate()
        self.inside: dict[str, set[int]] = {}
        self.violations: list[str] = []
        self.workers: list[Worker] = []

    def spawn(self, keys: list[tuple[str, int]]) -> Worker:
        worker = Worker(len(self.workers), keys)
        worker.task = asyncio.create_task(self._body(worker))
        self.workers.append(worker)
        return worker

    def _count(self, worker: Worker) -> None:
        for key, limit in worker.keys:
            if len(self.inside[key]) > limit:
                self.violations.append(f"{key}: {sorted(self.inside[key])} > {limit}")

    async def _body(self, worker: Worker) -> None:
        async with self.gate.hold([[key, limit] for key, limit in worker.keys]):
            worker.entered = True
            for key, _ in worker.keys:
                self.inside.setdefault(key, set()).add(worker.wid)
            self._count(worker)
            try:
                await worker.release.wait()
                self._count(worker)
                if worker.before_exit is not None:
                    worker.before_exit()
            finally:
                for key, _ in worker.keys:
                    self.inside[key].discard(worker.wid)
        if worker.after_exit is not None:
            worker.after_exit()

    def holders(self, key: str) -> set[int]:
        return set(self.inside.get(key, set()))

    async def close(self) -> None:
        live = [w.task for w in self.workers if w.task is not None and not w.task.done()]
        for task in live:
            task.cancel()
        await asyncio.gather(*live, return_exceptions=True)


# --- model test ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    key: str


@dataclass(frozen=True)
class Release:
    pick: int
    cancel_before: int | None = None
    """Cancel this waiter (an index among all waiters) in the releasing step, before release."""
    cancel_woken: bool = False
    """Cancel the waiter the release hands the slot to, before it gets to run."""


@dataclass(frozen=True)
class CancelWaiter:
    pick: int


@dataclass(frozen=True)
class CancelHolder:
    pick: int


Op = Request | Release | CancelWaiter | CancelHolder


@dataclass
class Model:
    limits: dict[str, int]
    holders: dict[str, list[int]] = field(default_factory=dict)
    queue: dict[str, deque[int]] = field(default_factory=dict)
    key_of: dict[int, str] = field(default_factory=dict)
    released: set[int] = field(default_factory=set)
    cancelled: set[int] = field(default_factory=set)

    def request(self, wid: int, key: str) -> None:
        self.key_of[wid] = key
        holders = self.holders.setdefault(key, [])
        queue = self.queue.setdefault(key, deque())
        if len(holders) < self.limits[key] and not queue:
            holders.append(wid)
        else:
            queue.append(wid)

    def leave(self, wid: int) -> int | None:
        """``wid`` leaves its slot; returns the waiter that gets it (FIFO)."""
        key = self.key_of[wid]
        self.holders[key].remove(wid)
        if self.queue[key]:
            woken = self.queue[key].popleft()
            self.holders[key].append(woken)
            return woken
        return None

    def cancel_waiting(self, wid: int) -> None:
        self.queue[self.key_of[wid]].remove(wid)
        self.cancelled.add(wid)

    def all_holders(self) -> list[int]:
        return sorted(w for ws in self.holders.values() for w in ws)

    def all_waiters(self) -> list[int]:
        return sorted(w for q in self.queue.values() for w in q)


async def run_model(limits: dict[str, int], ops: list[Op]) -> None:
    harness = Harness()
    model = Model(limits)
    try:
        async with asyncio.timeout(SCENARIO_TIMEOUT_S):
            for op in ops:
                apply(harness, model, op)
                await settle()
                check(harness, model)
            # Drain: release everyone still inside, oldest first, until nobody is left.
            while model.all_holders():
                apply(harness, model, Release(0))
                await settle()
                check(harness, model)
            assert not model.all_waiters()
            await check_no_leak(harness, limits)
    finally:
        await harness.close()


def apply(harness: Harness, model: Model, op: Op) -> None:
    workers = harness.workers
    if isinstance(op, Request):
        worker = harness.spawn([(op.key, model.limits[op.key])])
        model.request(worker.wid, op.key)
        return
    holders, waiters = model.all_holders(), model.all_waiters()
    if isinstance(op, CancelWaiter):
        if waiters:
            victim = workers[waiters[op.pick % len(waiters)]]
            assert victim.task is not None
            victim.task.cancel()
            model.cancel_waiting(victim.wid)
        return
    if not holders:
        return
    holder = workers[holders[op.pick % len(holders)]]
    assert holder.task is not None
    if isinstance(op, CancelHolder):
        holder.task.cancel()  # a cancelled holder gives its slot back like a finished one
        model.leave(holder.wid)
        model.cancelled.add(holder.wid)
        return
    if op.cancel_before is not None and waiters:
        doomed = workers[waiters[op.cancel_before % len(waiters)]]
        model.cancel_waiting(doomed.wid)
        task = doomed.task
        assert task is not None
        holder.before_exit = task.cancel
    woken = model.leave(holder.wid)
    model.released.add(holder.wid)
    if op.cancel_woken and woken is not None:
        woken_task = workers[woken].task
        assert woken_task is not None
        holder.after_exit = woken_task.cancel
        model.cancelled.add(woken)
        model.leave(woken)  # it hands the slot straight on
    holder.release.set()


def check(harness: Harness, model: Model) -> None:
    assert not harness.violations
    for key, limit in model.limits.items():
        assert harness.holders(key) == set(model.holders.get(key, [])), key
        assert harness.gate.peak.get(key, 0) <= limit
    for worker in harness.workers:
        task = worker.task
        assert task is not None
        if worker.wid in model.cancelled:
            assert task.done()
            assert task.cancelled(), (worker.wid, None if task.cancelled() else task.exception())
        elif worker.wid in model.released:
            assert task.done()
            assert not task.cancelled()
            assert task.exception() is None
        else:
            assert not task.done()


async def check_no_leak(harness: Harness, limits: dict[str, int]) -> None:
    """Once everyone has left, each key admits exactly ``limit`` new holders at once."""
    fresh = {
        key: [harness.spawn([(key, limit)]) for _ in range(limit + 1)]
        for key, limit in limits.items()
    }
    await settle()
    for key, limit in limits.items():
        assert sum(w.entered for w in fresh[key]) == limit, key
        assert not fresh[key][-1].entered  # the one over the limit waits
    for workers in fresh.values():
        for worker in workers:
            worker.release.set()
        await settle()
    assert all(w.task is not None and w.task.done() for ws in fresh.values() for w in ws)


LIMITS = st.fixed_dictionaries({key: st.integers(1, 3) for key in KEYS})
PICK = st.integers(0, 10)
SAFE_OPS: st.SearchStrategy[Op] = st.one_of(
    st.builds(Request, st.sampled_from(KEYS)),
    st.builds(Request, st.sampled_from(KEYS)),  # twice as likely: keep queues non-empty
    st.builds(Release, PICK, st.none(), st.booleans()),
    st.builds(CancelWaiter, PICK),
    st.builds(CancelHolder, PICK),
)
ALL_OPS: st.SearchStrategy[Op] = st.one_of(
    SAFE_OPS, st.builds(Release, PICK, st.one_of(st.none(), PICK), st.booleans())
)


@SETTINGS
@given(LIMITS, st.lists(SAFE_OPS, max_size=40))
@example({"a": 1, "b": 1, "c": 1}, [Request("a"), Request("a"), Request("b"), Request("a")])
@example(
    {"a": 2, "b": 1, "c": 1},
    [Request("a"), Request("a"), Request("a"), Request("a"), Release(0, cancel_woken=True)],
)
def test_gate_matches_the_fifo_model(limits: dict[str, int], ops: list[Op]) -> None:
    """Holders per key never exceed the limit; waiters are served in arrival order; a full key
    never delays another key; cancelled waiters and holders neither leak nor steal a slot."""
    asyncio.run(run_model(limits, ops))


@SETTINGS
@given(LIMITS, st.lists(ALL_OPS, max_size=40))
@example({"a": 1, "b": 1, "c": 1}, [Request("a"), Request("a"), Release(0, cancel_before=0)])
def test_gate_survives_cancel_and_release_in_one_step(
    limits: dict[str, int], ops: list[Op]
) -> None:
    asyncio.run(run_model(limits, ops))


# --- stress test -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    keys: tuple[str, ...]
    arrive_after: int
    """Loop turns to wait after the previous job was started."""
    hold_turns: int


JOBS = st.lists(
    st.builds(
        Job,
        st.lists(st.sampled_from(KEYS), min_size=0, max_size=2, unique=True).map(tuple),
        st.integers(0, 2),
        st.integers(0, 6),
    ),
    min_size=1,
    max_size=30,
)


async def run_jobs(limits: dict[str, int], jobs: list[Job]) -> dict[str, int]:
    gate = ConcurrencyGate()
    inside = {key: 0 for key in KEYS}
    most = {key: 0 for key in KEYS}
    violations: list[str] = []

    async def job(spec: Job) -> None:
        # Keys come in any order: the gate sorts them, so two jobs cannot deadlock.
        async with gate.hold([[key, limits[key]] for key in spec.keys]):
            for key in spec.keys:
                inside[key] += 1
                most[key] = max(most[key], inside[key])
            for turn in range(spec.hold_turns + 1):
                for key in spec.keys:
                    if inside[key] > limits[key]:
                        violations.append(f"{key} at {inside[key]} > {limits[key]}")
                if turn < spec.hold_turns:
                    await asyncio.sleep(0)
            for key in spec.keys:
                inside[key] -= 1

    async with asyncio.timeout(SCENARIO_TIMEOUT_S):
        tasks = []
        for spec in jobs:
            for _ in range(spec.arrive_after):
                await asyncio.sleep(0)
            tasks.append(asyncio.create_task(job(spec)))
        await asyncio.gather(*tasks)  # all finish: no deadlock, no lost wake-up
    assert not violations
    assert inside == {key: 0 for key in KEYS}
    for key in KEYS:
        # Slots also count while a job waits for its next key, or is woken but not yet running.
        assert most[key] <= gate.peak.get(key, 0) <= limits[key]
    return most


@SETTINGS
@given(LIMITS, JOBS)
def test_random_jobs_never_exceed_limits_and_all_finish(
    limits: dict[str, int], jobs: list[Job]
) -> None:
    asyncio.run(run_jobs(limits, jobs))


@SETTINGS
@given(st.integers(1, 4), st.integers(1, 12))
def test_a_key_is_used_up_to_its_limit(limit: int, count: int) -> None:
    """Work-conserving: with ``count`` jobs waiting, ``min(count, limit)`` run at once."""
    jobs = [Job(("a",), 0, 3) for _ in range(count)]
    most = asyncio.run(run_jobs({"a": limit, "b": 1, "c": 1}, jobs))
    assert most["a"] == min(count, limit)


# --- one key, several limits -----------------------------------------------------------------


async def test_a_waiter_gets_a_slot_only_within_its_own_limit() -> None:
    harness = Harness()
    try:
        async with asyncio.timeout(SCENARIO_TIMEOUT_S):
            wide_1 = harness.spawn([("env:acme", 2)])
            harness.spawn([("env:acme", 2)])
            await settle()
            harness.spawn([("env:acme", 1)])  # two already inside: must wait
            await settle()
            assert len(harness.holders("env:acme")) == 2
            wide_1.release.set()
            await settle()
            # One wide holder is left; the narrow waiter may only run alone.
            assert not harness.violations, harness.violations
    finally:
        await harness.close()
