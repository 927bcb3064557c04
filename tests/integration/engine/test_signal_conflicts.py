"""``wait_for_signal(on_conflict=...)`` on both backends: a signal has one waiter. ``"fail"``
(the default, as in Inngest) fails a second wait's step; ``"replace"`` takes the first
waiter's place and that wait ends as a timeout (None)."""

from __future__ import annotations

from typing import Any

import stepwell
from stepwell import Context
from stepwell.ports.records import PauseKind
from tests.waiting import eventually


def _app() -> stepwell.App:
    app = stepwell.App("conflicts")

    @app.function("waiter", trigger=stepwell.on_event("sig/wait"))
    async def waiter(ctx: Context) -> Any:
        mode = ctx.event.data["mode"]
        try:
            got = await ctx.step.wait_for_signal(
                "w", signal=ctx.event.data["signal"], timeout="1h", on_conflict=mode
            )
        except stepwell.StepError as exc:
            return {"error": str(exc)}
        return {"got": got}

    return app


async def _waiting(engine: stepwell.Engine, event_id: str) -> None:
    async def paused() -> bool:
        runs = await engine.list_runs(event_id=event_id)
        running = bool(runs) and runs[0].status is stepwell.RunStatus.RUNNING
        return running and bool(await engine.store.find_pauses("s", kind=PauseKind.SIGNAL))

    await eventually(paused, timeout=10, what="the first waiter's pause")


async def test_a_second_wait_fails_by_default(db_url: str) -> None:
    async with _app().embedded(db_url, poll_interval=0.02) as engine:
        [first] = await engine.send("sig/wait", {"signal": "s", "mode": "fail"})
        await _waiting(engine, first)
        [second] = await engine.send("sig/wait", {"signal": "s", "mode": "fail"})
        [failed] = await engine.wait_for_runs(second, timeout=30)
        assert failed.status is stepwell.RunStatus.COMPLETED, failed.error
        assert "SignalConflictError" in failed.output["error"]
        assert "already waiting for signal 's'" in failed.output["error"]
        # The first waiter still has the signal.
        [waiting] = await engine.list_runs(event_id=first)
        assert await engine.send_signal("s", 1) == waiting.run_id
        [done] = await engine.wait_for_runs(first, timeout=30)
        assert done.output == {"got": 1}


async def test_replace_takes_the_place_of_the_first_waiter(db_url: str) -> None:
    async with _app().embedded(db_url, poll_interval=0.02) as engine:
        [first] = await engine.send("sig/wait", {"signal": "s", "mode": "fail"})
        await _waiting(engine, first)
        [second] = await engine.send("sig/wait", {"signal": "s", "mode": "replace"})
        # The replaced wait ends at once as a timeout, long before its hour is up.
        [replaced] = await engine.wait_for_runs(first, timeout=30)
        assert replaced.status is stepwell.RunStatus.COMPLETED, replaced.error
        assert replaced.output == {"got": None}
        [newer] = await engine.list_runs(event_id=second)
        assert await engine.send_signal("s", {"n": 2}) == newer.run_id
        [done] = await engine.wait_for_runs(second, timeout=30)
        assert done.output == {"got": {"n": 2}}
