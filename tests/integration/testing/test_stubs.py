"""Steps stubbed by id: a value, a callable, an exception; waits and invokes too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

import stepwell
from stepwell.testing import TestEngine
from tests.integration.testing import shop
from tests.integration.testing.shop import app, process_order, quote


@pytest.fixture(autouse=True)
def _fresh_side_effects() -> Iterator[None]:
    shop.charged.clear()
    yield
    shop.charged.clear()


async def test_unstubbed_steps_run_for_real() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(
            process_order, "shop/order.placed", {"order_id": 3}, steps={"email": "stubbed"}
        )
        await t.wait_until(run, waiting_for="wait-payment")
        assert shop.charged == [3]  # the real charge ran
        await t.send("shop/payment.received", {"order_id": 3})
        result = await t.finish(run)
        assert result.steps["charge"].output == {"order_id": 3, "charged": True, "real": True}
        assert result.output["email"] == "stubbed"


async def test_a_stub_value_replaces_the_body_and_is_stored() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(
            process_order, "shop/order.placed", {"order_id": 4}, steps={"charge": {"fake": 1}}
        )
        result = await t.wait_until(run, waiting_for="wait-payment")
        assert shop.charged == []
        assert result.steps["charge"].output == {"fake": 1}
        assert result.steps["charge"].attempts == 1
        # Stored in the memo like any step's result: what a replay reads.
        assert {"data": {"fake": 1}} in (await t.engine.store.load_memo(run.run_id)).values()
        assert t.stub_calls(run) == {"charge": 1}


async def test_a_callable_stub_is_called_when_the_step_is_reached() -> None:
    calls: list[str] = []

    def fake_charge() -> dict[str, bool]:
        calls.append("charge")
        return {"charged": True}

    async with TestEngine(app) as t:
        run = await t.trigger(
            process_order, "shop/order.placed", {"order_id": 5}, steps={"charge": fake_charge}
        )
        await t.send("shop/payment.received", {"order_id": 5})
        result = await t.finish(run)
        assert calls == ["charge"]  # once: later executions replay its stored result
        assert result.output["receipt"] == {"charged": True}


async def test_an_exception_stub_is_retried_then_fails_the_step() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(
            process_order,
            "shop/order.placed",
            {"order_id": 6},
            steps={"charge": RuntimeError("card declined")},
        )
        result = await t.finish(run)
        assert result.status == "Failed"
        charge = result.steps["charge"]
        assert charge.attempts == 4  # retries=3
        assert charge.status == "FAILED"
        assert charge.error is not None
        assert charge.error["message"] == "card declined"
        assert len(charge.errors) == 4
        assert t.stub_calls(run) == {"charge": 4}
        assert t.elapsed >= timedelta(seconds=15 + 30 + 60)  # Inngest's backoff, skipped


async def test_a_non_retriable_exception_stub_fails_at_once() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(
            process_order,
            "shop/order.placed",
            {"order_id": 8},
            steps={"charge": stepwell.NonRetriableError("stolen card")},
        )
        result = await t.finish(run)
        assert result.status == "Failed"
        assert result.steps["charge"].attempts == 1
        assert t.elapsed == timedelta(0)


async def test_a_stubbed_wait_for_event_returns_the_event() -> None:
    paid = stepwell.Event(name="shop/payment.received", data={"order_id": 9, "amount": 5})
    async with TestEngine(app) as t:
        run = await t.trigger(
            process_order, "shop/order.placed", {"order_id": 9}, steps={"wait-payment": paid}
        )
        result = await t.finish(run)
        assert result.output["paid"] is True
        assert result.steps["wait-payment"].output["data"] == {"order_id": 9, "amount": 5}
        assert t.elapsed == timedelta(seconds=1)  # no wait at all, only the cool-off


async def test_a_wait_for_event_stubbed_with_none_times_out_at_once() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(
            process_order, "shop/order.placed", {"order_id": 10}, steps={"wait-payment": None}
        )
        result = await t.finish(run)
        assert result.output["paid"] is False
        assert t.elapsed == timedelta(0)  # the day-long timeout never had to pass


async def test_a_stubbed_invoke_returns_its_value_and_starts_no_run() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(quote, "shop/quote.requested", steps={"price": 999, "reply": None})
        result = await t.finish(run)
        assert result.output == {"price": 999, "accepted": False}
        assert await t.runs(shop.lookup_price) == []


async def test_an_unstubbed_invoke_runs_the_child() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(quote, "shop/quote.requested")
        await t.wait_until(run, waiting_for="reply")
        await t.send("shop/quote.accepted", {"ok": True})
        result = await t.finish(run)
        assert result.output == {"price": 300, "accepted": {"ok": True}}
        [child] = await t.runs(shop.lookup_price)
        assert child.status == "Completed"


async def test_stubs_for_every_run_of_a_function() -> None:
    async with TestEngine(app, steps={process_order: {"charge": "all"}}) as t:
        await t.send("shop/order.placed", {"order_id": 11})
        await t.send("shop/order.placed", {"order_id": 12})
        await t.settle()  # both wait for their payment now (a payment sent earlier is missed)
        await t.send("shop/payment.received", {"order_id": 11})
        await t.send("shop/payment.received", {"order_id": 12})
        await t.advance("1s")
        runs = await t.runs(process_order, status="Completed")
        assert len(runs) == 2
        assert all(r.output["receipt"] == "all" for r in runs)
        assert shop.charged == []


async def test_a_stubbed_sleep_is_skipped_without_moving_time() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(shop.reminder, "shop/cart.abandoned", steps={"wait-an-hour": None})
        result = await t.finish(run)
        assert result.output == "reminded"
        assert t.elapsed == timedelta(0)


async def test_a_stub_among_parallel_steps() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(shop.pack, "shop/pack", steps={"label": "fake label"})
        result = await t.finish(run)
        assert result.output == ["real box", "fake label"]
        assert {s.id: s.output for s in result.steps.values()} == {
            "box": "real box",
            "label": "fake label",
        }
