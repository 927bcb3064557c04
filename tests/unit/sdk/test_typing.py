"""The public API types a user program under ``mypy --strict``: ``step.run`` is typed by the
function it runs, ``ctx.event.data`` by the ``Context[...]`` parameter, and the typed flow
settings are accepted by ``app.function``."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
from mypy import api

REPO = Path(__file__).resolve().parents[3]

PROGRAM = textwrap.dedent(
    """
    from datetime import timedelta

    from pydantic import BaseModel

    import stepwell
    from stepwell import Context


    class OrderPlaced(stepwell.EventData, name="shop/order.placed"):
        order_id: int
        amount: float


    class OrderCancelled(stepwell.EventData, name="shop/order.cancelled"):
        order_id: int


    class Receipt(BaseModel):
        order_id: int
        total: float


    def make_receipt(order: OrderPlaced) -> Receipt:
        return Receipt(order_id=order.order_id, total=order.amount * 1.2)


    app = stepwell.App("typed")


    @app.function(
        "checkout",
        trigger=stepwell.on_event(OrderPlaced),
        concurrency=stepwell.Concurrency(limit=5, key="event.data.order_id"),
        throttle=stepwell.Throttle(limit=100, period=timedelta(seconds=1)),
        cancel_on=[stepwell.Cancel(event=OrderCancelled, match="data.order_id", timeout="1h")],
        timeouts=stepwell.Timeouts(start="10s", finish="1m"),
    )
    async def checkout(ctx: Context[OrderPlaced]) -> Receipt:
        reveal_type(ctx.event.data)
        receipt = await ctx.step.run("receipt", make_receipt, ctx.event.data)
        reveal_type(receipt)
        return receipt


    async def use(engine: stepwell.Engine) -> float:
        receipt = await engine.invoke(checkout, OrderPlaced(order_id=1, amount=2.0))
        reveal_type(receipt)
        return receipt.total
    """
)


WRONG_ARGUMENTS = textwrap.dedent(
    """
    import stepwell
    from stepwell import Context, SyncContext

    app = stepwell.App("wrong")


    def add(a: int, b: int) -> int:
        return a + b


    async def add_async(a: int, b: int) -> int:
        return a + b


    @app.function("async-fn")
    async def async_fn(ctx: Context) -> None:
        await ctx.step.run("t", add, 1, "2")  # wrong
        await ctx.step.run("n", add_async, 1, 2, 3)  # wrong
        await ctx.step.run("k", add_async, 1, c=2)  # wrong
        right: int = await ctx.step.run("r", add_async, 1, b=2)
        looped = [await ctx.step.run(f"l{i}", lambda i=i: i * 2) for i in range(3)]


    @app.function("sync-fn")
    def sync_fn(ctx: SyncContext) -> None:
        ctx.step.run("k", add, 1, b="x")  # wrong
        right: int = ctx.step.run("r", add, 1, 2)
    """
)


def _mypy(program: Path, cache: Path) -> tuple[str, str, int]:
    return api.run(
        [
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--strict",
            "--cache-dir",
            str(cache),  # its own: never races a developer's mypy run
            "--no-error-summary",
            "--hide-error-context",
            str(program),
        ]
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for this module, a copy of the project's when there is one: the checks
    reuse what it learnt of stepwell and its dependencies (building that takes ~15 s)."""
    cache = tmp_path_factory.mktemp("mypy") / "cache"
    warm = REPO / ".mypy_cache"  # ./scripts/test runs mypy on the project first: start from it
    if warm.is_dir():
        shutil.copytree(warm, cache)
    return cache


def test_step_run_checks_the_arguments_against_the_function(tmp_path: Path, cache: Path) -> None:
    program = tmp_path / "wrong.py"
    program.write_text(WRONG_ARGUMENTS, encoding="utf-8")
    stdout, _, status = _mypy(program, cache)
    lines = WRONG_ARGUMENTS.splitlines()
    wrong = [number for number, line in enumerate(lines, 1) if line.endswith("# wrong")]
    errors = sorted({int(line.split(":")[1]) for line in stdout.splitlines() if ": error:" in line})
    # Every wrong call, and nothing else: right calls and the ``lambda i=i:`` idiom pass.
    assert errors == wrong, stdout
    assert status == 1


def test_a_user_program_is_typed_under_strict_mypy(tmp_path: Path, cache: Path) -> None:
    program = tmp_path / "shop.py"
    program.write_text(PROGRAM, encoding="utf-8")
    stdout, stderr, status = _mypy(program, cache)
    lines = [line for line in stdout.splitlines() if line.strip()]
    revealed = [
        re.sub(r"^.*Revealed type is ", "", line) for line in lines if "Revealed type" in line
    ]
    assert revealed == ['"shop.OrderPlaced"', '"shop.Receipt"', '"shop.Receipt"'], stdout
    others = [line for line in lines if "Revealed type" not in line]
    assert others == [], stdout + stderr
    assert status == 0  # notes only: no errors
