"""Speed by design: one durable write per step, no replay while a run keeps going."""

from __future__ import annotations

from typing import Any

import stepwell
from stepwell import Context
from stepwell.ports.records import ChangeSet, CommitResult


async def test_each_step_costs_one_commit_and_nothing_is_replayed(db_url: str) -> None:
    app = stepwell.App("wp")
    entries = 0
    steps = 50

    @app.function("f", trigger=stepwell.on_event("wp/go"))
    async def f(ctx: Context) -> int:
        nonlocal entries
        entries += 1  # code outside steps runs again only on a replay
        total = 0
        for i in range(steps):
            total += await ctx.step.run(f"s{i}", lambda i=i: i)
        return total

    commits: list[ChangeSet] = []
    async with app.embedded(db_url) as engine:
        real_commit = engine.store.commit

        async def counting_commit(changes: ChangeSet) -> CommitResult:
            commits.append(changes)
            return await real_commit(changes)

        engine.store.commit = counting_commit  # type: ignore[method-assign]
        [event_id] = await engine.send("wp/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=20)

    assert run.output == sum(range(steps))
    assert entries == 1
    step_commits = [c for c in commits if c.steps]
    assert len(step_commits) == steps
    assert all(len(c.steps) == 1 for c in step_commits)
    # Besides the steps, per run: accepting the event, showing it Running, ending it (with
    # its system events). None of them is per step.
    others: list[Any] = [c for c in commits if not c.steps]
    assert len(others) == 3
