"""SW101, SW102, SW105, SW106, SW108, SW111: what a function body computes, does and prints
outside its steps. Each table holds code that must be flagged and look-alikes that must not."""

from __future__ import annotations

import pytest

from tests.unit.lint.harness import STYLES, Case, build, check

IMPORTS = """
import asyncio
import datetime
import functools
import logging
import os
import random
import secrets
import subprocess
import sqlite3
import time
import uuid
from datetime import date
from datetime import datetime as dt
from pathlib import Path

import httpx
import requests
from time import sleep

logger = logging.getLogger(__name__)
http = httpx.Client()
"""

CASES: dict[str, list[Case]] = {
    "SW101": [
        Case("random", "x = random.random()  # expect: SW101\nreturn x"),
        Case("uuid4", "token = uuid.uuid4().hex  # expect: SW101"),
        Case("uuid1", "token = str(uuid.uuid1())  # expect: SW101"),
        Case("secrets", "return secrets.token_hex(8)  # expect: SW101"),
        Case("urandom", "return os.urandom(4)  # expect: SW101"),
        Case("time", "started = time.time()  # expect: SW101"),
        Case("now", "return datetime.datetime.now()  # expect: SW101"),
        Case("aliased-utcnow", "return dt.utcnow()  # expect: SW101"),
        Case("today", "return date.today()  # expect: SW101"),
        Case(
            "argument-of-a-step",
            'return await ctx.step.run("a", charge, random.random())  # expect: SW101',
            after="def charge(x: float) -> float:\n    return x",
        ),
        Case(
            "helper-called-from-the-body",
            "return stamp()",
            after="def stamp() -> float:\n    return time.time()  # expect: SW101",
        ),
        Case("inside-a-lambda-step", 'return await ctx.step.run("a", lambda: random.random())'),
        Case(
            "inside-a-nested-def-step",
            """
            def pick() -> int:
                return random.randint(1, 6)

            return await ctx.step.run("a", pick)
            """,
        ),
        Case(
            "helper-of-a-step-helper",
            'return await ctx.step.run("a", make)',
            after="""
            def make() -> str:
                return token()


            def token() -> str:
                return uuid.uuid4().hex
            """,
        ),
        Case(
            "partial-step",
            'return await ctx.step.run("a", functools.partial(roll, 6))',
            after="def roll(n: int) -> int:\n    return random.randint(1, n)",
        ),
        Case("uuid5", 'return uuid.uuid5(uuid.NAMESPACE_URL, "x")'),
        Case("seeded", "return random.Random(42).random()"),
        Case("fixed-datetime", "return datetime.datetime(2024, 1, 1)"),
        Case("event-time", "return ctx.event.ts"),
        Case(
            "unrelated-helper-not-called",
            "return 1",
            after="def stamp() -> float:\n    return time.time()",
        ),
    ],
    "SW102": [
        Case("httpx", 'return httpx.get("https://x.test").json()  # expect: SW102'),
        Case("requests", 'requests.post("https://x.test", json={})  # expect: SW102'),
        Case(
            "client-method",
            """
            async with httpx.AsyncClient() as client:
                response = await client.get("https://x.test")  # expect: SW102
            """,
        ),
        Case("module-client", 'http.post("https://x.test")  # expect: SW102'),
        Case("subprocess", 'subprocess.run(["ls"])  # expect: SW102'),
        Case("write-file", 'open("out.txt", "w").write("x")  # expect: SW102'),
        Case("write-text", 'Path("out.txt").write_text("x")  # expect: SW102'),
        Case("sqlite", 'conn = sqlite3.connect("app.db")  # expect: SW102'),
        Case("session", "session.commit()  # expect: SW102"),
        Case("django", "return User.objects.get(id=1)  # expect: SW102"),
        Case(
            "helper-called-from-the-body",
            "return load(1)",
            after="def load(n: int) -> object:\n    return requests.get(f'/{n}')  # expect: SW102",
        ),
        Case("read-file", 'return open("config.json").read()'),
        Case("timeout-object", "return httpx.Timeout(5)"),
        Case("in-a-step", 'return await ctx.step.run("get", lambda: httpx.get("https://x"))'),
        Case("fetch-step", 'return await ctx.step.fetch("get", "https://x.test")'),
        Case("event-data-get", 'return ctx.event.data.get("x")'),
        Case("cache-get", 'return cache.get("x")'),
        Case("client-close", "http.close()"),
        Case(
            "helper-in-a-step",
            'return await ctx.step.run("load", load, 1)',
            after="def load(n: int) -> object:\n    return requests.get(f'/{n}')",
        ),
    ],
    "SW105": [
        Case("time-sleep", "time.sleep(1)  # expect: SW105"),
        Case("asyncio-sleep", "await asyncio.sleep(5)  # expect: SW105"),
        Case("imported-sleep", "sleep(1)  # expect: SW105"),
        Case(
            "helper",
            "await pause()",
            after="async def pause() -> None:\n    await asyncio.sleep(1)  # expect: SW105",
        ),
        Case("step-sleep", 'await ctx.step.sleep("s", "1s")'),
        Case("yield-to-the-loop", "await asyncio.sleep(0)"),
        Case("inside-a-step", 'await ctx.step.run("s", lambda: time.sleep(1))'),
    ],
    "SW106": [
        Case(
            "while-true-break",
            """
            while True:  # expect: SW106
                status = await ctx.step.run("check", lambda: "done")
                if status == "done":
                    break
                await ctx.step.sleep("wait", "1m")
            """,
        ),
        Case(
            "while-condition",
            """
            done = False
            while not done:  # expect: SW106
                done = await ctx.step.run("check", lambda: True)
                time.sleep(1)
            """,
        ),
        Case(
            "for-return",
            """
            for attempt in range(10):  # expect: SW106
                if await ctx.step.run(f"check-{attempt}", lambda: True):
                    return attempt
                await ctx.step.sleep(f"wait-{attempt}", "1m")
            """,
        ),
        Case(
            "drip-campaign",
            """
            for i in range(3):
                await ctx.step.sleep(f"s{i}", "1d")
                await ctx.step.run(f"remind-{i}", lambda: None)
            """,
        ),
        Case(
            "loop-without-sleep",
            """
            for i in range(3):
                if await ctx.step.run(f"try-{i}", lambda: True):
                    break
            """,
        ),
        Case(
            "inside-a-step",
            'await ctx.step.run("poll", poll)',
            after="""
            def poll() -> None:
                while not ready():
                    time.sleep(1)


            def ready() -> bool:
                return True
            """,
        ),
    ],
    "SW108": [
        Case("print", 'print("charging")  # expect: SW108'),
        Case("module-logger", 'logger.info("charging")  # expect: SW108'),
        Case("logging-module", 'logging.warning("charging")  # expect: SW108'),
        Case("inline-logger", 'logging.getLogger("x").error("boom")  # expect: SW108'),
        Case("ctx-logger", 'ctx.logger.info("charging")'),
        Case("print-in-a-step", 'await ctx.step.run("p", lambda: print("x"))'),
        Case("local-logger", 'logger = ctx.logger\nlogger.info("charging")'),
        Case("list-named-log", 'log: list[str] = []\nlog.append("x")'),
    ],
    "SW111": [
        Case(
            "uuid-in-id", 'await ctx.step.run(f"charge-{uuid.uuid4()}", lambda: 1)  # expect: SW111'
        ),
        Case(
            "tainted-name",
            """
            key = str(time.time())
            await ctx.step.run(key, lambda: 1)  # expect: SW111
            """,
        ),
        Case(
            "hash-in-id", 'await ctx.step.sleep(f"s-{hash(ctx.event.name)}", "1s")  # expect: SW111'
        ),
        Case("event-data", """await ctx.step.run(f"charge-{ctx.event.data['id']}", lambda: 1)"""),
        Case(
            "loop-index",
            """
            for i in range(3):
                await ctx.step.run(f"item-{i}", lambda: i)
            """,
        ),
        Case(
            "from-a-step-result",
            """
            uid = await ctx.step.run("uid", lambda: str(uuid.uuid4()))
            await ctx.step.run(f"use-{uid}", lambda: 1)
            """,
        ),
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


def test_every_case_table_flags_something_and_holds_a_look_alike() -> None:
    for code, cases in CASES.items():
        assert any("# expect:" in c.body + c.after for c in cases), code
        assert any("# expect:" not in c.body + c.after for c in cases), code
