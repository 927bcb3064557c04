"""``step.send_signal`` in process, on both backends: the signal reaches the waiting run
exactly once, in async and sync functions; the step's result is that run's id (None when no
run waits), and a replay reads it from the memo instead of sending again."""

from __future__ import annotations

from typing import Any

import stepwell
from stepwell import Context, SyncContext
from stepwell.ports.records import PauseKind
from tests.waiting import eventually


def signals_app() -> stepwell.App:
    app = stepwell.App("senders")

    @app.function("waiter", trigger=stepwell.on_event("sig/wait"))
    async def waiter(ctx: Context) -> Any:
        return await ctx.step.wait_for_signal("w", signal=ctx.event.data["signal"], timeout="1h")

    @app.function("sender", trigger=stepwell.on_event("sig/send"))
    async def sender(ctx: Context) -> Any:
        got = await ctx.step.send_signal("send", signal="a-sig", data={"from": "async"})
        nobody = await ctx.step.send_signal("nobody", signal="no-such-signal")
        await ctx.step.sleep("nap", "10ms")  # a replay: both sends come from the memo
        return {"got": got, "nobody": nobody}

    @app.function("sync-sender", trigger=stepwell.on_event("sig/sync-send"))
    def sync_sender(ctx: SyncContext) -> Any:
        got = ctx.step.send_signal("send", signal="s-sig", data=[1, 2])
        ctx.step.sleep("nap", "10ms")
        return got

    return app


async def _paused(engine: stepwell.Engine, signal: str) -> None:
    async def waiting() -> bool:
        return bool(await engine.store.find_pauses(signal, kind=PauseKind.SIGNAL))

    await eventually(waiting, timeout=10, what=f"a waiter for {signal}")


async def test_send_signal_delivers_once_and_is_memoised(db_url: str) -> None:
    async with signals_app().embedded(db_url, poll_interval=0.02) as engine:
        [waiting] = await engine.send("sig/wait", {"signal": "a-sig"})
        [sync_waiting] = await engine.send("sig/wait", {"signal": "s-sig"})
        await _paused(engine, "a-sig")
        await _paused(engine, "s-sig")
        [sent] = await engine.send("sig/send", {})
        [sync_sent] = await engine.send("sig/sync-send", {})
        [waiter] = await engine.wait_for_runs(waiting, timeout=30)
        [sender] = await engine.wait_for_runs(sent, timeout=30)
        [sync_waiter] = await engine.wait_for_runs(sync_waiting, timeout=30)
        [sync_sender] = await engine.wait_for_runs(sync_sent, timeout=30)
        assert sender.status is stepwell.RunStatus.COMPLETED, sender.error
        assert waiter.output == {"from": "async"}
        assert sender.output == {"got": waiter.run_id, "nobody": None}
        assert sync_waiter.output == [1, 2]
        assert sync_sender.output == sync_waiter.run_id
        # A later waiter on the same signal gets nothing from the replays.
        [again] = await engine.send("sig/wait", {"signal": "a-sig"})
        await _paused(engine, "a-sig")
        [late] = await engine.list_runs(event_id=again)
        assert late.status is stepwell.RunStatus.RUNNING
        assert await engine.send_signal("a-sig", "late") == late.run_id
