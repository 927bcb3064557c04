"""SW103, SW104, SW107, SW109, SW110, SW112, SW113, SW114: how steps are called, where the
step tools go, and what steps return. Flagged code and look-alikes, in each SDK style."""

from __future__ import annotations

import pytest

from tests.unit.lint.harness import STYLES, Case, build, check

IMPORTS = """
import asyncio
import threading
from typing import IO, Any, Optional, Set

import httpx
import requests
from other import enqueue, jobs

SAVED: object = None
REGISTRY: dict[str, object] = {}
"""

CASES: dict[str, list[Case]] = {
    "SW103": [
        Case(
            "lambda",
            'await ctx.step.run("o", lambda: ctx.step.run("i", lambda: 1))  # expect: SW103',
        ),
        Case(
            "nested-def",
            """
            async def outer() -> None:
                await ctx.step.sleep("nap", "1s")  # expect: SW103

            await ctx.step.run("outer", outer)
            """,
        ),
        Case(
            "helper-given-the-step-tools",
            'await ctx.step.run("outer", lambda: work(ctx.step))',
            after="def work(step: Any) -> Any:\n    return step.run('i', int)  # expect: SW103",
        ),
        Case("siblings", 'await ctx.step.run("a", lambda: 1)\nawait ctx.step.run("b", lambda: 2)'),
        Case(
            "result-passed-on",
            'a = await ctx.step.run("a", lambda: 1)\nawait ctx.step.run("b", str, a)',
        ),
        Case(
            "parallel-callables",
            """
            await ctx.group.parallel(
                (lambda: ctx.step.run("a", lambda: 1), lambda: ctx.step.run("b", lambda: 2))
            )
            """,
        ),
        Case(
            "helper-awaited-from-the-body",
            "await charge_all(ctx.step, [1, 2])",
            after="""
            async def charge_all(step: Any, orders: list[int]) -> None:
                for order in orders:
                    await step.run(f"charge-{order}", lambda: order)
            """,
        ),
    ],
    "SW104": [
        Case("attribute", "holder.step = ctx.step  # expect: SW104"),
        Case("container", 'REGISTRY["ctx"] = ctx  # expect: SW104'),
        Case("global", "global SAVED\nSAVED = ctx.step  # expect: SW104"),
        Case("returned", "return ctx.step  # expect: SW104"),
        Case("thread", "threading.Thread(target=print, args=(ctx,)).start()  # expect: SW104"),
        Case("unknown-function", "enqueue(ctx.step)  # expect: SW104"),
        Case("task", "asyncio.create_task(jobs.run(ctx))  # expect: SW104"),
        Case("append", "items: list[Any] = []\nitems.append(ctx)  # expect: SW104"),
        Case(
            "helper-of-this-file",
            "await helper(ctx)",
            after="async def helper(c: Any) -> None:\n    await c.step.sleep('s', '1s')",
        ),
        Case("isinstance", "assert isinstance(ctx, object)"),
        Case("alias", 'step_tools = ctx.step\nawait step_tools.run("a", lambda: 1)'),
        Case("logger", 'ctx.logger.info("x")'),
        Case("event-data", "enqueue(ctx.event.data)\nreturn ctx.event.data"),
    ],
    "SW107": [
        Case("bare", 'ctx.step.run("a", lambda: 1)  # expect: SW107'),
        Case("bare-sleep", 'ctx.step.sleep("s", "1s")  # expect: SW107'),
        Case("never-used", 'pending = ctx.step.run("a", lambda: 1)  # expect: SW107'),
        Case("awaited", 'await ctx.step.run("a", lambda: 1)'),
        Case(
            "gathered",
            """
            a = ctx.step.run("a", lambda: 1)
            b = ctx.step.run("b", lambda: 2)
            await asyncio.gather(a, b)
            """,
        ),
        Case(
            "returned-from-a-lambda",
            'await ctx.group.parallel((lambda: ctx.step.run("a", lambda: 1),))',
        ),
    ],
    "SW109": [
        Case(
            "for",
            """
            for user in ctx.event.data["users"]:
                await ctx.step.send_event(f"hi-{user}", {"name": "t/hi"})  # expect: SW109
            """,
        ),
        Case(
            "comprehension",
            """
            await asyncio.gather(
                *[ctx.step.send_event(f"s-{i}", {"name": "t/x"}) for i in range(3)]  # expect: SW109
            )
            """,
        ),
        Case(
            "one-send-of-a-list",
            'await ctx.step.send_event("fan-out", [{"name": "t/x", "data": i} for i in range(3)])',
        ),
        Case(
            "loop-of-runs",
            """
            for i in range(3):
                await ctx.step.run(f"item-{i}", lambda: i)
            """,
        ),
    ],
    "SW110": [
        Case(
            "lambda",
            'return await ctx.step.run("get", lambda: httpx.get("https://x"))  # expect: SW110',
        ),
        Case(
            "helper",
            'return await ctx.step.run("get", load)',
            after="def load() -> Any:\n    return requests.get('https://x')  # expect: SW110",
        ),
        Case("fetch", 'return await ctx.step.fetch("get", "https://x")'),
        Case(
            "database-in-a-step",
            'return await ctx.step.run("q", lambda: session.execute("select 1"))',
        ),
    ],
    "SW114": [
        Case(
            "set",
            'await ctx.step.run("tags", tags)',
            after="def tags() -> set[str]:  # expect: SW114\n    return {'a'}",
        ),
        Case(
            "optional-set",
            """
            async def ids() -> Optional[Set[int]]:  # expect: SW114
                return None

            await ctx.step.run("ids", ids)
            """,
        ),
        Case(
            "file",
            'await ctx.step.run("f", handle)',
            after="def handle() -> IO[str]:  # expect: SW114\n    return open('x')",
        ),
        Case(
            "string-annotation",
            'await ctx.step.run("f", frozen)',
            after="def frozen() -> 'frozenset[int]':  # expect: SW114\n    return frozenset()",
        ),
        Case(
            "list",
            'await ctx.step.run("f", names)',
            after="def names() -> list[str]:\n    return []",
        ),
        Case(
            "dict",
            'await ctx.step.run("f", row)',
            after="def row() -> dict[str, Any]:\n    return {}",
        ),
        Case(
            "settings-class",
            'await ctx.step.run("f", cfg)',
            after="def cfg() -> Settings:\n    return Settings()",
        ),
        Case("lambda", 'await ctx.step.run("f", lambda: {1, 2})'),
        Case("not-a-step", "tags()", after="def tags() -> set[str]:\n    return {'a'}"),
    ],
}

PARAMS = [
    pytest.param(code, case, style, id=f"{code}-{case.id}-{style}")
    for code, cases in CASES.items()
    for case in cases
    for style in STYLES
]


@pytest.mark.parametrize(("code", "case", "style"), PARAMS)
def test_rule(code: str, case: Case, style: str) -> None:
    check(
        build(Case(case.id, case.body, IMPORTS + case.prelude, case.after, case.options), style),
        code,
    )


def test_a_sync_function_needs_no_await() -> None:
    source = """\
import stepwell
from stepwell import SyncContext

app = stepwell.App("t")


@app.function("f", trigger=stepwell.on_event("t/go"))
def f(ctx: SyncContext) -> int:
    ctx.step.sleep("s", "1s")
    return ctx.step.run("a", lambda: 1)
"""
    check(source, "SW107")


TYPED = """\
import inngest
import stepwell
from stepwell import Context

app = stepwell.App("t")
client = inngest.Inngest(app_id="t")


class Placed(stepwell.EventData, name="shop/placed"):
    order_id: int


@app.function("a", trigger=stepwell.on_event("shop/placed"))  # expect: SW112
async def a(ctx: Context) -> None:
    await ctx.step.send_event("s", stepwell.Event(name="shop/placed", data={}))  # expect: SW112
    await ctx.step.send_event("t", [{"name": "shop/placed", "data": {}}])  # expect: SW112
    await ctx.step.wait_for_event("w", event="shop/placed", timeout="1h")  # expect: SW112
    await ctx.step.send_event("u", stepwell.Event(name="shop/other", data={}))
    await ctx.step.send_event("v", Placed(order_id=1))


@app.function("b", trigger=stepwell.on_event(Placed))
async def b(ctx: Context) -> None:
    await ctx.step.wait_for_event("w", event=Placed, timeout="1h")


@client.create_function(
    fn_id="c", trigger=inngest.TriggerEvent(event="shop/placed")  # expect: SW112
)
async def c(ctx: inngest.Context) -> None:
    await ctx.step.send_event("s", inngest.Event(name="shop/placed"))  # expect: SW112
"""


def test_untyped_events() -> None:
    check(TYPED, "SW112")


LIMITS = """\
import httpx
import inngest
import stepwell
from stepwell import Context

app = stepwell.App("t")
client = inngest.Inngest(app_id="t")


@app.function("calls", trigger=stepwell.on_event("t/go"))  # expect: SW113
async def calls(ctx: Context) -> None:
    await ctx.step.run("get", lambda: httpx.get("https://x"))


@app.function("fetches", trigger=stepwell.on_event("t/go"))  # expect: SW113
async def fetches(ctx: Context) -> None:
    await ctx.step.fetch("get", "https://x")


@client.create_function(fn_id="theirs", trigger=inngest.TriggerEvent(event="t/go"))  # expect: SW113
async def theirs(ctx: inngest.Context) -> None:
    await ctx.step.run("q", lambda: session.execute("select 1"))


@app.function("limited", trigger=stepwell.on_event("t/go"), concurrency=5)
async def limited(ctx: Context) -> None:
    await ctx.step.run("get", lambda: httpx.get("https://x"))


@client.create_function(
    fn_id="throttled",
    trigger=inngest.TriggerEvent(event="t/go"),
    concurrency=[inngest.Concurrency(limit=5)],
)
async def throttled(ctx: inngest.Context) -> None:
    await ctx.step.run("get", lambda: httpx.get("https://x"))


@app.function("pure", trigger=stepwell.on_event("t/go"))
async def pure(ctx: Context) -> int:
    return await ctx.step.run("add", lambda: 1 + 1)
"""


def test_external_calls_without_a_concurrency_limit() -> None:
    check(LIMITS, "SW113")


def test_every_case_table_flags_something_and_holds_a_look_alike() -> None:
    for code, cases in CASES.items():
        assert any("# expect:" in c.body + c.after for c in cases), code
        assert any("# expect:" not in c.body + c.after for c in cases), code
