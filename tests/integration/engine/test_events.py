"""Events: durable before send returns, idempotent ids, reserved names, size limits."""

from __future__ import annotations

import pytest

import stepwell
from stepwell import Context


def _app() -> stepwell.App:
    app = stepwell.App("ev")

    @app.function("f", trigger=stepwell.on_event("ev/go"))
    async def f(ctx: Context) -> object:
        return ctx.event.data.get("n")

    return app


async def test_event_is_stored_before_send_returns(db_url: str) -> None:
    async with _app().embedded(db_url) as engine:
        [event_id] = await engine.send("ev/go", {"n": 1})
        # Read through the store's readers, not the writer: what send acknowledged is stored.
        [stored] = await engine.store.get_events([event_id])
        assert stored.event.name == "ev/go"
        await engine.wait_for_runs(event_id, timeout=10)


async def test_same_user_id_within_a_day_creates_no_second_run(db_url: str) -> None:
    async with _app().embedded(db_url) as engine:
        first = await engine.send("ev/go", {"n": 1}, id="order-7")
        second = await engine.send(stepwell.Event(name="ev/go", data={"n": 2}, id="order-7"))
        assert first != second  # each send stores its event under its own internal id
        [run] = await engine.wait_for_runs(first[0], timeout=10)
        assert await engine.list_runs(event_id=second[0]) == []
        other = await engine.send("ev/go", {"n": 3}, id="order-8")
        [other_run] = await engine.wait_for_runs(other[0], timeout=10)
        assert len(await engine.store.list_events(name="ev/go")) == 3
    assert run.output == 1
    assert other_run.output == 3


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"name": "inngest/function.finished"}, "reserved for internal use"),
        ({"name": "INNGEST/x"}, "reserved for internal use"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"name": "ev/go", "data": [1]}, "data must be a JSON object"),
        ({"name": "ev/go", "bogus": 1}, "unknown field(s) ['bogus']"),
        ({"name": "ev/go", "ts": "soon"}, "ts must be an integer"),
        ({"name": "ev/go", "data": {"x": {1, 2}}}, "not JSON serialisable"),
    ],
)
async def test_invalid_events_are_refused_precisely(
    db_url: str, event: dict[str, object], message: str
) -> None:
    async with _app().embedded(db_url) as engine:
        with pytest.raises(stepwell.InvalidEventError) as info:
            await engine.send(event)
    assert message in str(info.value)
    assert str(info.value).startswith("event 0: ")


async def test_oversized_payload_is_refused_and_nothing_stored_is_lost(db_url: str) -> None:
    async with _app().embedded(db_url) as engine:
        [kept] = await engine.send("ev/go", {"n": 1})
        too_big = {"blob": "x" * (512 * 1024)}
        with pytest.raises(stepwell.InvalidEventError, match=r"event 1: payload is \d+ bytes"):
            # The whole batch is refused: the valid first event is not stored either.
            await engine.send(
                [{"name": "ev/go", "data": {"n": 2}}, {"name": "ev/go", "data": too_big}]
            )
        [run] = await engine.wait_for_runs(kept, timeout=10)
        assert len(await engine.store.list_events(name="ev/go")) == 1
        assert len(await engine.list_runs(function_id="ev-f")) == 1
    assert run.output == 1


async def test_payload_limit_is_configurable(db_url: str) -> None:
    async with _app().embedded(db_url, max_event_bytes=100) as engine:
        await engine.send("ev/go", {"n": 1})
        with pytest.raises(stepwell.InvalidEventError, match="over the limit of 100 bytes"):
            await engine.send("ev/go", {"blob": "x" * 100})


async def test_send_event_step_refuses_reserved_names(db_url: str) -> None:
    app = stepwell.App("sr")

    @app.function("f", trigger=stepwell.on_event("sr/go"), retries=0)
    async def f(ctx: Context) -> str:
        try:
            await ctx.step.send_event("bad", stepwell.Event(name="inngest/fake"))
        except stepwell.InvalidEventError as exc:
            return str(exc)
        return "not reached"

    async with app.embedded(db_url) as engine:
        [event_id] = await engine.send("sr/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=10)
    assert "reserved for internal use" in run.output
