"""An engine that executes nothing (a dashboard on a shared database) plans and commits, and
leaves every run to the processes that execute."""

from __future__ import annotations

import stepwell
from stepwell import Context
from stepwell.drivers.inprocess import InProcessDriver
from stepwell.engine.engine import Engine
from stepwell.engine.keys import execute_item_id
from stepwell.engine.registry import Registry
from stepwell.store import open_store

app = stepwell.App("split")


@app.function("work", trigger=stepwell.on_event("split/go"))
async def work(ctx: Context) -> str:
    await ctx.step.run("only step", lambda: 1)
    return "done"


def _looking_engine(pg_url: str) -> Engine:
    registry = Registry()
    for fn in app.functions.values():
        registry.add(fn.spec)
    return Engine(
        store=open_store(pg_url),
        registry=registry,
        driver=InProcessDriver({}),  # it could run nothing, and must not try
        poll_interval=0.05,
        executes=False,
    )


async def test_runs_sent_through_a_non_executing_engine_run_in_the_executing_one(
    pg_url: str,
) -> None:
    async with _looking_engine(pg_url) as looking:
        [event_id] = await looking.send("split/go", {})
        [queued] = await looking.list_runs(event_id=event_id)
        assert queued.status is stepwell.RunStatus.QUEUED
        # Committed for anyone to claim: not leased to the process that cannot run it.
        item = await looking.store.get_item(execute_item_id(queued.run_id))
        assert item is not None
        assert item.lease_owner is None
        async with app.embedded(pg_url, poll_interval=0.05) as working:
            [run] = await working.wait_for_runs(event_id, timeout=20)
        assert run.status is stepwell.RunStatus.COMPLETED
        assert run.output == "done"
