"""EncryptionMiddleware end to end: stored step results, outputs and event fields are sealed."""

from __future__ import annotations

from typing import Any

import pytest

import stepwell
from stepwell import Context
from stepwell.core.runs import RunStatus
from tests.waiting import eventually


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_stored_data_is_encrypted_and_the_function_sees_it_plain(db_url: str) -> None:
    mw = stepwell.EncryptionMiddleware("secret")
    app = stepwell.App("enc", middleware=[mw])
    seen: list[Any] = []

    @app.function("f", trigger=stepwell.on_event("go"))
    async def f(ctx: Context) -> dict[str, Any]:
        card = await ctx.step.run("card", lambda: {"number": "4242"})
        await ctx.step.sleep("nap", "10ms")  # the replay reads "card" back from the store
        seen.append((ctx.event.data, card))
        await ctx.step.send_event(
            "send", stepwell.Event(name="fwd", data={"encrypted": card, "plain": 1})
        )
        return card

    @app.function("sink", trigger=stepwell.on_event("fwd"))
    async def sink(ctx: Context) -> None:
        seen.append(dict(ctx.event.data))

    async with app.embedded(db_url, poll_interval=0.02) as engine:
        sealed = mw.encrypt({"ssn": "123"})
        [event_id] = await engine.send("go", {"encrypted": sealed})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        assert run.status is RunStatus.COMPLETED, run.error
        assert run.output["__ENCRYPTED__"] is True
        assert mw.decrypt(run.output) == {"number": "4242"}
        await eventually(lambda: len(seen) >= 2, what="the forwarded event's run")
    assert seen[0] == ({"encrypted": {"ssn": "123"}}, {"number": "4242"})
    assert seen[1] == {"encrypted": {"number": "4242"}, "plain": 1}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_wrong_key_fails_the_run_clearly(db_url: str) -> None:
    app = stepwell.App("enc-wrong", middleware=[stepwell.EncryptionMiddleware("right")])

    @app.function("f", trigger=stepwell.on_event("go"))
    async def f(ctx: Context) -> Any:
        return ctx.event.data

    async with app.embedded(db_url, poll_interval=0.02) as engine:
        other = stepwell.EncryptionMiddleware("wrong").encrypt("x")
        [event_id] = await engine.send("go", {"encrypted": other})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
    assert run.status is RunStatus.FAILED
    assert run.error is not None
    assert run.error["name"] == "DecryptionError"
