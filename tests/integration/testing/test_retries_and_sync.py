"""Real retries under the virtual clock, and the kit from plain ``def`` tests."""

from __future__ import annotations

from datetime import timedelta

from stepwell.testing import TestEngine
from tests.integration.testing import shop
from tests.integration.testing.shop import app, flaky_fn, process_order, process_order_sync


async def test_retries_with_backoff_run_at_once_and_count_attempts() -> None:
    shop.flaky_calls.clear()
    async with TestEngine(app) as t:
        run = await t.trigger(flaky_fn, "flaky/go")
        result = await t.finish(run)
        assert result.status == "Completed"
        step = result.steps["call"]
        assert (step.output, step.attempts, step.status) == ("ok", 3, "COMPLETED")
        assert [e["message"] for e in step.errors] == ["attempt 1 failed", "attempt 2 failed"]
        # Inngest's table waits 15 s, then 30 s (plus jitter): virtual, so skipped.
        assert timedelta(seconds=45) <= t.elapsed <= timedelta(seconds=45 + 60)
    assert len(shop.flaky_calls) == 3


async def test_a_fixed_retry_interval() -> None:
    shop.flaky_calls.clear()
    async with TestEngine(app, retry_interval="10m") as t:
        result = await t.finish(await t.trigger(flaky_fn, "flaky/go"))
        assert result.steps["call"].attempts == 3
        assert t.elapsed == timedelta(minutes=20)


def test_a_sync_test_of_a_def_function() -> None:
    shop.charged.clear()
    with TestEngine.sync(app) as t:
        run = t.trigger(process_order_sync, "shop/sync-order.placed", {"order_id": 1})
        t.wait_until(run, waiting_for="cool-off")
        assert shop.charged == [1]
        result = t.finish(run)
        assert result.status == "Completed"
        assert result.output == {
            "receipt": {"order_id": 1, "charged": True, "real": True},
            "email": "e-1",
        }
        assert t.elapsed == timedelta(seconds=1)


def test_a_sync_test_with_stubs_and_the_clock() -> None:
    shop.charged.clear()
    with TestEngine.sync(app) as t:
        run = t.trigger(
            process_order, "shop/order.placed", {"order_id": 2}, steps={"charge": "stubbed"}
        )
        t.wait_until(run, waiting_for="wait-payment")
        t.clock.advance("2d")  # from the test's thread: past the wait's 1-day timeout
        result = t.wait_until(run, status="Completed")
        assert result.output == {"receipt": "stubbed", "paid": False}
        assert shop.charged == []

        sync_run = t.trigger(
            process_order_sync, "shop/sync-order.placed", {"order_id": 3}, steps={"email": "x"}
        )
        assert t.finish(sync_run).output["email"] == "x"
