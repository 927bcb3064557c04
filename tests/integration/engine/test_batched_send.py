"""A send of many events is planned and stored as one batch (set-based inserts, one read per
event name for waiting runs, one read for idempotency keys): it must leave exactly what sending
the same events one by one leaves."""

from __future__ import annotations

from collections import Counter

import stepwell
from stepwell import Context
from stepwell.core.runs import RunStatus
from tests.waiting import eventually


def _app() -> stepwell.App:
    app = stepwell.App("batched")

    @app.function("one", trigger=stepwell.on_event("b/go"))
    async def one(ctx: Context) -> object:
        return ["one", ctx.event.data["n"]]

    @app.function("two", trigger=stepwell.on_event("b/go"))
    async def two(ctx: Context) -> object:
        return ["two", ctx.event.data["n"]]

    @app.function("other", trigger=stepwell.on_event("b/other"))
    async def other(ctx: Context) -> object:
        return ["other", ctx.event.data["n"]]

    @app.function(
        "waits",
        trigger=stepwell.on_event("b/start"),
        cancel_on=[{"event": "b/stop"}],
    )
    async def waits(ctx: Context) -> None:
        await ctx.step.sleep("long", "1h")

    return app


def _events(prefix: str) -> list[stepwell.Event]:
    """Duplicate sender ids within the batch and across functions, and events without one."""
    ids = ["x", "x", "y", "", "x", "", "z", "y"]
    names = ["b/go", "b/go", "b/other", "b/go", "b/other", "b/other", "b/go", "b/go"]
    return [
        stepwell.Event(name=name, data={"n": i}, id=f"{prefix}-{key}" if key else "")
        for i, (name, key) in enumerate(zip(names, ids, strict=True))
    ]


async def _outcome(engine: stepwell.Engine, event_ids: list[str]) -> Counter[tuple[str, str]]:
    """Which functions ran for which event (by its position in the send), and what each
    returned: the same for a batch and for one-by-one sends."""
    seen: Counter[tuple[str, str]] = Counter()
    for position, event_id in enumerate(event_ids):
        for run in await engine.list_runs(event_id=event_id):
            assert run.status is RunStatus.COMPLETED, run
            seen[(f"{position}:{run.function_id}", repr(run.output))] += 1
    return seen


async def test_a_batch_leaves_what_sending_one_by_one_leaves(db_url: str) -> None:
    async with _app().embedded(db_url) as engine:
        batched = await engine.send(_events("batch"))
        one_by_one = [(await engine.send(e))[0] for e in _events("single")]
        for event_id in [*batched, *one_by_one]:
            if await engine.list_runs(event_id=event_id):
                await engine.wait_for_runs(event_id, timeout=10)
        expected = await _outcome(engine, one_by_one)
        assert await _outcome(engine, batched) == expected
        # Each (function, sender id) pair ran once; events without an id always run.
        assert sum(expected.values()) == 11
        stored = await engine.store.get_events(batched)
        assert [s.event.data for s in stored] == [e.data for e in _events("batch")]


async def test_a_repeat_of_a_batch_starts_nothing(db_url: str) -> None:
    async with _app().embedded(db_url) as engine:
        first = await engine.send(_events("again"))
        for event_id in first:
            if await engine.list_runs(event_id=event_id):
                await engine.wait_for_runs(event_id, timeout=10)
        before = len(await engine.list_runs(limit=1000))
        again = await engine.send([e for e in _events("again") if e.id])
        assert all([await engine.list_runs(event_id=i) == [] for i in again])
        assert len(await engine.list_runs(limit=1000)) == before


async def test_two_cancelling_events_in_one_send_cancel_the_run_once(db_url: str) -> None:
    async with _app().embedded(db_url) as engine:
        [started] = await engine.send("b/start", {})

        async def running() -> bool:
            [run] = await engine.list_runs(event_id=started)
            return run.status is RunStatus.RUNNING

        await eventually(running, timeout=10)
        await engine.send([stepwell.Event(name="b/stop"), stepwell.Event(name="b/stop")])
        [run] = await engine.wait_for_runs(started, timeout=10)
        assert run.status is RunStatus.CANCELLED


async def test_internal_data_is_stripped_from_what_is_stored(db_url: str) -> None:
    async with _app().embedded(db_url) as engine:
        [event_id] = await engine.send("b/other", {"n": 1, "_inngest": {"fn_id": "x"}})
        [stored] = await engine.store.get_events([event_id])
        assert stored.event.data == {"n": 1}
        [run] = await engine.wait_for_runs(event_id, timeout=10)
        assert run.output == ["other", 1]


async def test_a_wait_begun_after_an_unawaited_event_still_gets_the_next_one(
    db_url: str,
) -> None:
    """SQLite remembers names no run waits for; a pause stored later must end that."""
    app = stepwell.App("later")

    @app.function("w", trigger=stepwell.on_event("l/start"))
    async def w(ctx: Context) -> object:
        got = await ctx.step.wait_for_event("wait", event="l/resume", timeout="1h")
        return None if got is None else got.data

    async with app.embedded(db_url) as engine:
        await engine.send("l/resume", {"n": 0})  # nobody waits yet
        [started] = await engine.send("l/start", {})

        async def waiting() -> bool:
            return bool(await engine.store.find_pauses("l/resume"))

        await eventually(waiting, timeout=10)
        await engine.send("l/resume", {"n": 1})
        [run] = await engine.wait_for_runs(started, timeout=10)
    assert run.output == {"n": 1}
