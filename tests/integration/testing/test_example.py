"""The test kit's example, as the issue writes it."""

from __future__ import annotations

from datetime import timedelta

import stepwell
from stepwell.testing import TestEngine
from tests.integration.testing.shop import app, process_order


async def test_order_waits_for_payment() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(
            process_order,
            stepwell.Event(name="shop/order.placed", data={"order_id": 7}),
            steps={"charge": {"order_id": 7, "charged": True}},
        )
        await t.wait_until(run, waiting_for="wait-payment")
        await t.send("shop/payment.received", {"order_id": 7})
        result = await t.finish(run)
        assert result.status == "Completed"
        assert result.steps["email"].output == "e-1"
        assert t.clock.now - t.started_at >= timedelta(seconds=1)
        assert result.output == {
            "receipt": {"order_id": 7, "charged": True},
            "paid": True,
            "email": "e-1",
        }
        assert [s.attempts for s in result.steps.values()] == [1, 1, 1, 1]


async def test_the_same_on_an_in_memory_database() -> None:
    async with TestEngine(app, database=":memory:") as t:
        run = await t.trigger(
            process_order, "shop/order.placed", {"order_id": 7}, steps={"charge": "fake"}
        )
        await t.wait_until(run, waiting_for="wait-payment")
        await t.send("shop/payment.received", {"order_id": 7})
        assert (await t.finish(run)).output["email"] == "e-1"
