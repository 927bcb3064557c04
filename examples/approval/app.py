"""Human in the loop: an expense waits for a manager's decision, for at most ``expires_in``.

The run asks for approval, then waits, holding no worker and no slot, for an
``expenses/decided`` event whose ``data.expense_id`` matches its own. Approved: it pays.
Rejected: it stops. No decision in time: ``wait_for_event`` returns None and it escalates.
``lookback`` also accepts a decision that came a little before the wait began.
"""

from __future__ import annotations

import asyncio

import stepwell
from stepwell import Context

app = stepwell.App("expenses")


def request_approval(expense_id: str, manager: str) -> str:
    return f"asked {manager} about {expense_id}"  # a real app sends a chat message or email


def pay(expense_id: str, cents: int) -> str:
    return f"paid {expense_id}: {cents} cents"


def escalate(expense_id: str) -> str:
    return f"escalated {expense_id} to finance"


@app.function("approve-expense", trigger=stepwell.on_event("expenses/submitted"))
async def approve_expense(ctx: Context) -> dict[str, str]:
    expense_id = str(ctx.event.data["expense_id"])
    cents = int(ctx.event.data["cents"])
    await ctx.step.run("ask", request_approval, expense_id, str(ctx.event.data["manager"]))
    decision = await ctx.step.wait_for_event(
        "wait-decision",
        event="expenses/decided",
        match="data.expense_id",
        timeout=str(ctx.event.data.get("expires_in", "3d")),
        lookback="10m",
    )
    if decision is None:
        return {"outcome": "expired", "note": await ctx.step.run("escalate", escalate, expense_id)}
    if not decision.data.get("approved"):
        return {"outcome": "rejected", "note": str(decision.data.get("reason", ""))}
    return {"outcome": "approved", "note": await ctx.step.run("pay", pay, expense_id, cents)}


async def main(database: str = "sqlite:///.stepwell/expenses.db") -> dict[str, str]:
    async with app.embedded(database) as engine:
        [event_id] = await engine.send(
            "expenses/submitted", {"expense_id": "exp-9", "cents": 4200, "manager": "grace"}
        )
        # The manager clicks "approve" (a web view would send this event).
        await engine.send("expenses/decided", {"expense_id": "exp-9", "approved": True})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        output: dict[str, str] = run.output
        return output


if __name__ == "__main__":
    print(asyncio.run(main()))  # {'outcome': 'approved', 'note': 'paid exp-9: 4200 cents'}
