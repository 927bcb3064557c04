"""``engine.invoke`` on its own: the run's output as the function's declared type, and a
failed run raised as ``InvocationError`` carrying its error's name and message."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

import stepwell
from stepwell import Context


class Quote(stepwell.EventData, name="shop/quote.asked"):
    sku: str
    qty: int


class Price(BaseModel):
    sku: str
    total: float


class OutOfStock(stepwell.NonRetriableError):
    pass


def priced(quote: Quote) -> Price:
    return Price(sku=quote.sku, total=quote.qty * 2.5)


def invoke_app() -> tuple[stepwell.App, stepwell.Function[Price], stepwell.Function[Price]]:
    app = stepwell.App("invoking")

    @app.function("price")
    async def price(ctx: Context[Quote]) -> Price:
        return await ctx.step.run("price", priced, ctx.event.data)

    @app.function("refuse", retries=0)
    async def refuse(ctx: Context[Quote]) -> Price:
        raise OutOfStock(f"no {ctx.event.data.sku} left")

    return app, price, refuse


async def test_invoke_returns_the_declared_type(sqlite_url: str) -> None:
    app, price, _ = invoke_app()
    async with app.embedded(sqlite_url) as engine:
        result = await engine.invoke(price, Quote(sku="tea", qty=4), timeout=30)
        assert result == Price(sku="tea", total=10.0)
        assert type(result) is Price
        # a plain dict of data is accepted too, and decoded the same way
        again = await engine.invoke(price, {"sku": "jam", "qty": 2}, timeout=30)
        assert again == Price(sku="jam", total=5.0)


async def test_a_failed_invocation_raises_invocation_error(sqlite_url: str) -> None:
    app, _, refuse = invoke_app()
    async with app.embedded(sqlite_url) as engine:
        with pytest.raises(stepwell.InvocationError) as caught:
            await engine.invoke(refuse, Quote(sku="tea", qty=1), timeout=30)
        err = caught.value
        assert err.status is stepwell.RunStatus.FAILED
        assert err.error_name == "OutOfStock"
        assert err.error_message == "no tea left"
        assert "OutOfStock: no tea left" in str(err)
        assert isinstance(err, stepwell.StepwellError)
        run = await engine.history.get_run(err.run_id)
        assert run is not None
        assert run.status is stepwell.RunStatus.FAILED
