"""A checkpoint request's steps are stored as one write: one commit (one fsync) for the batch,
the run's Running mark once, acknowledged only after it (``StepWrites.checkpoint_many``)."""

from __future__ import annotations

import stepwell
from stepwell import Context
from tests.integration.engine.commits import record_commits
from tests.integration.sdk.serving import serving
from tests.integration.server.harness import running_server
from tests.waiting import eventually

STEPS = 40


async def test_a_checkpointed_batch_is_one_commit(sqlite_url: str) -> None:
    app = stepwell.App("ckb")

    @app.function("f", trigger=stepwell.on_event("ckb/go"))
    async def f(ctx: Context) -> int:
        return sum([await ctx.step.run(f"s{i}", lambda i=i: i) for i in range(STEPS)])

    async with running_server(sqlite_url) as server:
        served = stepwell.serve(app, is_dev=True, base_url=server.url, checkpoint=True)
        async with serving(served) as app_url:
            synced = await server.client.put(f"{app_url}/api/inngest")
            assert synced.status_code == 200, synced.text
            commits = record_commits(server.runtime.engine)
            [event_id] = await server.runtime.engine.send("ckb/go", {})

            async def ended() -> bool:
                runs = await server.runtime.engine.list_runs(event_id=event_id)
                return bool(runs) and runs[0].status.is_terminal

            await eventually(ended, timeout=30, what="the run to end")
            [run] = await server.runtime.engine.list_runs(event_id=event_id)
    assert run.output == sum(range(STEPS))
    step_commits = [c for c in commits if c.steps]
    assert sum(len(c.steps) for c in step_commits) == STEPS
    # Fast steps share a checkpoint request (FLUSH_AFTER_S): fewer commits than steps, each
    # carrying a span per step, and the Running mark in the first only.
    assert len(step_commits) < STEPS, [len(c.steps) for c in step_commits]
    assert all(len(c.spans) >= len(c.steps) for c in step_commits)
    marks = [u for c in step_commits for u in c.run_updates if u.status.value == "Running"]
    assert len(marks) <= 1
