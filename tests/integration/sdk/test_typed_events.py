"""Typed events and typed step outputs, end to end in process."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel

import stepwell
from stepwell import Context, SyncContext
from stepwell.core.runs import RunStatus
from tests.waiting import eventually


class OrderPlaced(stepwell.EventData, name="shop/order.placed"):
    order_id: int
    amount: float


class PaymentReceived(stepwell.EventData, name="shop/payment.received"):
    order_id: int


class Receipt(BaseModel):
    order_id: int
    total: float


@dataclasses.dataclass
class Stamp:
    at: datetime
    ref: UUID
    price: Decimal


def make_receipt(order: OrderPlaced) -> Receipt:
    return Receipt(order_id=order.order_id, total=order.amount * 2)


async def make_stamp() -> Stamp:
    return Stamp(datetime(2026, 12, 1, tzinfo=UTC), UUID(int=7), Decimal("1.10"))


def typed_app(seen: list[Any]) -> stepwell.App:
    app = stepwell.App("typed-events")

    @app.function("checkout", trigger=stepwell.on_event(OrderPlaced))
    async def checkout(ctx: Context[OrderPlaced]) -> Receipt:
        seen.append(ctx.event.data)
        receipt = await ctx.step.run("receipt", make_receipt, ctx.event.data)
        stamp = await ctx.step.run("stamp", make_stamp)
        paid = await ctx.step.wait_for_event(
            "paid", event=PaymentReceived, match="data.order_id", timeout="30s"
        )
        seen.extend([receipt, stamp, paid])  # after the wait: these were replayed
        return receipt

    @app.function("untyped", trigger=stepwell.on_event("plain/*"))
    def untyped(ctx: SyncContext) -> dict[str, Any]:
        return {"got": ctx.event.data, "out": ctx.step.run("x", lambda: {"a": 1})}

    return app


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_typed_events_and_outputs_survive_a_replay(db_url: str) -> None:
    seen: list[Any] = []
    app = typed_app(seen)
    async with app.embedded(db_url, poll_interval=0.02) as engine:
        [event_id] = await engine.send(OrderPlaced(order_id=7, amount=10.0))

        async def waiting() -> bool:
            # The wait is stored as a pause: a payment sent before it would not count.
            return bool(await engine.store.find_pauses("shop/payment.received"))

        await eventually(waiting, what="the run waiting for the payment")
        await engine.send(PaymentReceived(order_id=7))
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        assert run.status is RunStatus.COMPLETED, run.error
        assert run.output == {"order_id": 7, "total": 20.0}
        assert isinstance(seen[0], OrderPlaced)
        receipt, stamp, paid = seen[-3:]
        assert receipt == Receipt(order_id=7, total=20.0)
        assert stamp == Stamp(datetime(2026, 12, 1, tzinfo=UTC), UUID(int=7), Decimal("1.10"))
        assert paid == PaymentReceived(order_id=7)

        [plain] = await engine.send("plain/thing", {"k": 1})
        [run] = await engine.wait_for_runs(plain, timeout=30)
        assert run.output == {"got": {"k": 1}, "out": {"a": 1}}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sends_whose_data_does_not_fit_are_refused(db_url: str) -> None:
    app = typed_app([])
    async with app.embedded(db_url, poll_interval=0.02) as engine:
        bad = stepwell.Event(name="shop/order.placed", data={"order_id": "x"})
        with pytest.raises(stepwell.InvalidEventError, match="order_id"):
            await engine.send(bad)
        with pytest.raises(stepwell.InvalidEventError, match="amount"):
            await engine.send("shop/order.placed", {"order_id": 1})
        assert await engine.list_runs() == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_stored_event_that_no_longer_fits_fails_the_run_at_once(db_url: str) -> None:
    app = typed_app([])
    async with app.embedded(db_url, poll_interval=0.02) as engine:
        # Stored as it was before the schema changed: the send-time check is bypassed.
        [event_id] = await engine.send_internal(
            [stepwell.Event(name="shop/order.placed", data={"order_id": "x", "amount": 1})]
        )
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        assert run.status is RunStatus.FAILED
        assert run.error is not None
        assert run.error["name"] == "NonRetriableError"
        assert "order_id" in run.error["message"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_output_type_overrides_the_annotation(db_url: str) -> None:
    app = stepwell.App("typed-override")
    got: list[Any] = []

    @app.function("f", trigger=stepwell.on_event("go"))
    async def f(ctx: Context) -> None:
        got.append(
            await ctx.step.run("r", lambda: {"order_id": 1, "total": 2}, output_type=Receipt)
        )

    async with app.embedded(db_url, poll_interval=0.02) as engine:
        [event_id] = await engine.send("go")
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        assert run.status is RunStatus.COMPLETED, run.error
        assert got == [Receipt(order_id=1, total=2.0)]
