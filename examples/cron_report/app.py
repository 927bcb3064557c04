"""A cron report: every weekday at 09:00 (Paris time) yesterday's sales are summed, rendered
and announced; the same function also runs on demand when ``reports/requested`` is sent.

Each tick fires once, across restarts and processes: the tick's event, the run and the next
tick's schedule are one commit. The tick's time is in the event (``data.scheduledAt``), so a
replay or a late start still reports on the right day.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import stepwell
from stepwell import Context

app = stepwell.App("reports")
SCHEDULE = "TZ=Europe/Paris 0 9 * * 1-5"

# Stands in for the sales database: (day, amount in cents).
SALES = [("2030-01-07", 1200), ("2030-01-07", 800), ("2030-01-08", 4000)]


def total_for(day: str) -> dict[str, object]:
    amounts = [cents for sold_on, cents in SALES if sold_on == day]
    return {"day": day, "orders": len(amounts), "cents": sum(amounts)}


def render(totals: dict[str, object]) -> str:
    cents = int(str(totals["cents"]))
    return f"{totals['day']}: {totals['orders']} orders, {cents / 100:.2f} EUR"


def report_day(ctx: Context) -> str:
    """The day to report on: the one before the tick (or the day asked for)."""
    if ctx.event.name == "inngest/scheduled.timer":
        fired = datetime.fromisoformat(str(ctx.event.data["scheduledAt"]).replace("Z", "+00:00"))
        return (fired - timedelta(days=1)).date().isoformat()
    return str(ctx.event.data["day"])


@app.function(
    "daily-sales",
    trigger=[stepwell.on_cron(SCHEDULE), stepwell.on_event("reports/requested")],
    singleton={"mode": "skip"},  # a slow report never overlaps the next one
)
async def daily_sales(ctx: Context) -> str:
    day = report_day(ctx)  # from the event: the same on every replay
    totals = await ctx.step.run("sum-sales", total_for, day)
    text = await ctx.step.run("render", render, totals)
    await ctx.step.send_event("announce", {"name": "reports/ready", "data": {"text": text}})
    return text


async def main(database: str = "sqlite:///.stepwell/reports.db") -> str:
    """Ask for one report now, without waiting for the schedule."""
    async with app.embedded(database) as engine:
        [event_id] = await engine.send("reports/requested", {"day": "2030-01-07"})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        return str(run.output)


if __name__ == "__main__":
    print(asyncio.run(main()))  # 2030-01-07: 2 orders, 20.00 EUR
