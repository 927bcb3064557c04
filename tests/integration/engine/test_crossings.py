"""An event and a wait for it, planned at the same moment, still meet (engine/crossings.py).

Each test makes the crossing happen for sure: a store read is held until the other side has
committed, so the plan that made it commits on what it read before. Without the crossing log
the run would wait for an event already stored."""

from __future__ import annotations

import asyncio
from typing import Any

import stepwell
from stepwell import Context
from stepwell.core.runs import RunStatus
from stepwell.ports.records import ChangeSet, PauseKind
from tests.waiting import eventually


def _app(lookback: str | None) -> stepwell.App:
    app = stepwell.App("cross")

    @app.function("wait", trigger=stepwell.on_event("cross/start"))
    async def wait(ctx: Context) -> Any:
        options: dict[str, Any] = {"lookback": lookback} if lookback else {}
        got = await ctx.step.wait_for_event(
            "decision", event="cross/decided", timeout="1m", **options
        )
        return None if got is None else got.data["ok"]

    return app


async def test_an_event_stored_after_a_lookback_read_found_nothing_resumes_the_wait(
    db_url: str,
) -> None:
    app = _app(lookback="10m")
    async with app.embedded(db_url) as engine:
        real = engine.store.list_events
        sent: list[str] = []

        async def list_events(*args: Any, **kwargs: Any) -> Any:
            found = await real(*args, **kwargs)
            if kwargs.get("name") == "cross/decided" and not sent:
                # The event is planned (no pause yet) and committed before the wait's plan
                # goes on with what its lookback read found: nothing.
                sent.extend(await engine.send("cross/decided", {"ok": 1}))
            return found

        engine.store.list_events = list_events  # type: ignore[method-assign]
        [event_id] = await engine.send("cross/start", {})
        [run] = await engine.wait_for_runs(event_id, timeout=20)
    assert sent, "the lookback read was not made"
    assert run.status is RunStatus.COMPLETED
    assert run.output == 1


async def test_an_event_planned_before_the_pause_was_stored_resumes_it(db_url: str) -> None:
    app = _app(lookback=None)
    async with app.embedded(db_url) as engine:
        real_find, real_commit = engine.store.find_pauses, engine.store.commit
        read_none: list[str] = []
        sends: list[asyncio.Task[list[str]]] = []

        async def find_pauses(name: str, *args: Any, **kwargs: Any) -> Any:
            found = await real_find(name, *args, **kwargs)
            event_kind = kwargs.get("kind", PauseKind.EVENT) is PauseKind.EVENT
            if name == "cross/decided" and event_kind and not read_none and not found:
                read_none.append(name)

                async def pause_stored() -> bool:
                    return bool(await real_find(name))

                # This event's plan read no pause; it commits only once the pause is stored.
                await eventually(pause_stored, timeout=20, what="the pause stored")
            return found

        async def commit(changes: ChangeSet) -> Any:
            if changes.pauses and not sends:
                # The event is sent, and its plan reads the pauses, before this one commits.
                sends.append(asyncio.create_task(engine.send("cross/decided", {"ok": 2})))
                await eventually(lambda: bool(read_none), timeout=20, what="the event's read")
            return await real_commit(changes)

        engine.store.find_pauses = find_pauses  # type: ignore[method-assign, assignment]
        engine.store.commit = commit  # type: ignore[method-assign]
        [event_id] = await engine.send("cross/start", {})
        [run] = await engine.wait_for_runs(event_id, timeout=20)
        await sends[0]
    assert run.status is RunStatus.COMPLETED
    assert run.output == 2
