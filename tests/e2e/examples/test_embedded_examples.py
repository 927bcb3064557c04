"""The embedded examples, run as their README runs them (``main()``), each on a fresh SQLite
file: fan-out with batching, the cron report (a tick fired by a hand-moved clock), the approval
(decided and timed out), and the AI pipeline against the stand-in model on loopback."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from examples.ai_pipeline import app as ai_pipeline
from examples.ai_pipeline.model_server import running
from examples.approval import app as approval
from examples.cron_report import app as cron_report
from examples.fan_out import app as fan_out

import stepwell
from stepwell import RunStatus
from tests.clock import ManualClock


def _db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'example.db'}"


async def test_fan_out_stores_every_row_in_batches_of_ten(tmp_path: Path) -> None:
    fan_out.STORED.clear()
    assert await fan_out.main(_db(tmp_path), rows=25) == [10, 10, 5]
    assert sorted(fan_out.STORED["imp-1"]) == list(range(25))


async def test_cron_report_on_demand(tmp_path: Path) -> None:
    assert await cron_report.main(_db(tmp_path)) == "2030-01-07: 2 orders, 20.00 EUR"


async def test_cron_report_fires_on_its_tick_for_the_day_before(tmp_path: Path) -> None:
    # Tuesday 8 January 2030, a moment before 09:00 in Paris (08:00 UTC).
    clock = ManualClock(datetime(2030, 1, 8, 7, 59, 59, tzinfo=UTC))
    engine = cron_report.app.embedded(_db(tmp_path), clock=clock, poll_interval=0.05)
    async with engine:
        clock.set(datetime(2030, 1, 8, 8, 0, 1, tzinfo=UTC))
        deadline = time.monotonic() + 20
        while True:
            runs = await engine.list_runs(function_id="reports-daily-sales")
            if any(run.status == RunStatus.COMPLETED for run in runs):
                break
            assert time.monotonic() < deadline, f"no completed cron run: {runs}"
            await asyncio.sleep(0.05)
    [run] = runs
    assert run.output == "2030-01-07: 2 orders, 20.00 EUR"


async def test_approval_pays_once_approved(tmp_path: Path) -> None:
    assert await approval.main(_db(tmp_path)) == {
        "outcome": "approved",
        "note": "paid exp-9: 4200 cents",
    }


async def test_approval_escalates_when_nobody_decides_in_time(tmp_path: Path) -> None:
    async with approval.app.embedded(_db(tmp_path), poll_interval=0.1) as engine:
        data = {"expense_id": "exp-1", "cents": 10, "manager": "alan", "expires_in": "1s"}
        [event_id] = await engine.send("expenses/submitted", data)
        [run] = await engine.wait_for_runs(event_id, timeout=20)
    assert run.output == {"outcome": "expired", "note": "escalated exp-1 to finance"}


async def test_ai_pipeline_calls_the_model_once_per_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with running() as model:
        adapter = stepwell.ai.openai(api_key="test-key", model="stand-in", base_url=model.base_url)
        monkeypatch.setattr(ai_pipeline, "MODEL", adapter)
        result = await ai_pipeline.main(_db(tmp_path))
    assert result == {"summary": "Invoice 88 is overdue.", "label": "billing"}
    assert [r["messages"][0]["content"] for r in model.requests] == [
        "Summarise in one sentence.",
        "Answer with one label.",
    ]
    assert all(r["model"] == "stand-in" for r in model.requests)
