"""Time under the test kit: it moves only when told, and it jumps."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from stepwell.testing import NotReached, TestEngine
from tests.integration.testing.shop import app, process_order, reminder, weekly_digest


async def test_a_month_of_weekly_sleeps_finishes_at_once() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(weekly_digest, "digest/requested")
        result = await t.finish(run)
        assert result.status == "Completed"
        assert result.output == 4
        # Four sleeps of a week were skipped, not slept: the virtual clock moved 28 days.
        assert t.elapsed == timedelta(days=28)
        assert [s.id for s in result.steps.values()][:3] == ["week-0", "count-0", "week-1"]


async def test_clock_advance_fires_what_falls_due() -> None:
    async with TestEngine(app, start=datetime(2026, 3, 1, 9, 0, tzinfo=UTC)) as t:
        run = await t.trigger(reminder, "shop/cart.abandoned")
        await t.wait_until(run, waiting_for="wait-an-hour")

        t.clock.advance("30m")  # not due yet
        assert (await t.wait_until(run, waiting_for="wait-an-hour")).status == "Running"

        assert t.clock.advance("2h") == datetime(2026, 3, 1, 11, 30, tzinfo=UTC)
        result = await t.wait_until(run, status="Completed")
        assert result.output == "reminded"
        assert result.steps["wait-an-hour"].status == "COMPLETED"


async def test_advance_fires_a_chain_of_timers_in_order() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(weekly_digest, "digest/requested")
        await t.advance("15d")  # week-0 and week-1 end inside the window, week-2 does not
        result = await t.wait_until(run, waiting_for="week-2")
        assert result.steps["count-1"].output == 1
        assert "count-2" not in result.steps
        assert t.elapsed == timedelta(days=15)


async def test_a_wait_for_event_times_out_on_the_virtual_clock() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(process_order, "shop/order.placed", {"order_id": 1})
        result = await t.finish(run)
        assert result.output["paid"] is False
        assert result.steps["wait-payment"].output is None
        assert t.elapsed == timedelta(days=1)


async def test_wait_until_says_why_it_cannot_happen() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(process_order, "shop/order.placed", {"order_id": 2})
        with pytest.raises(NotReached, match=r"waiting on WAIT_FOR_EVENT 'wait-payment'"):
            await t.wait_until(run, step="email")


async def test_finish_without_auto_skip_does_not_move_time() -> None:
    async with TestEngine(app) as t:
        run = await t.trigger(reminder, "shop/cart.abandoned")
        began = time.monotonic()
        with pytest.raises(NotReached, match="did not end in time"):
            await t.finish(run, auto_skip=False, timeout=0.3)
        assert time.monotonic() - began < 5  # bounded by its timeout
        assert t.elapsed == timedelta(0)
