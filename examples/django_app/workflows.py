"""The durable functions of the Django example: an invoice is issued, then reminded once."""

from __future__ import annotations

import stepwell
from stepwell import Context

workflows = stepwell.App("django-billing")


def issue(invoice_id: str, amount: int) -> dict[str, object]:
    return {"invoice_id": invoice_id, "amount": amount, "issued": True}


@workflows.function("issue-invoice", trigger=stepwell.on_event("billing/invoice.requested"))
async def issue_invoice(ctx: Context) -> dict[str, object]:
    invoice_id, amount = str(ctx.event.data["invoice_id"]), int(ctx.event.data["amount"])
    invoice = await ctx.step.run("issue", issue, invoice_id, amount)
    await ctx.step.sleep("grace-period", "1s")  # days, in a real app
    await ctx.step.send_event(
        "remind", {"name": "billing/invoice.reminder", "data": {"invoice_id": invoice_id}}
    )
    return invoice
