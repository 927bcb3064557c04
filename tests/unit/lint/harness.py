"""Table-driven rule tests: a case is a function body (or a whole module) in which each line
that must be flagged ends with ``# expect: SWxxx``; every other line must not be. Body cases
run in each SDK style: ours, inngest-py, and inngest-py's older ``fn(ctx, step)``."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from stepwell.lint import lint_source

_EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>SW\d{3}(?:\s*,\s*SW\d{3})*)")

HEADERS = {
    "stepwell": """\
import stepwell
from stepwell import Context

app = stepwell.App("t")


@app.function("f", trigger=stepwell.on_event("t/go"){options})
async def f(ctx: Context) -> object:
""",
    "inngest": """\
import inngest

client = inngest.Inngest(app_id="t")


@client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="t/go"){options})
async def f(ctx: inngest.Context) -> object:
""",
    "inngest-step-param": """\
import inngest

client = inngest.Inngest(app_id="t")


@client.create_function(fn_id="f", trigger=inngest.TriggerEvent(event="t/go"){options})
async def f(ctx: inngest.Context, step: inngest.Step) -> object:
""",
}
STYLES = tuple(HEADERS)


@dataclass(frozen=True)
class Case:
    id: str
    body: str
    prelude: str = ""
    after: str = ""
    options: str = ""


def build(case: Case, style: str) -> str:
    body = textwrap.indent(textwrap.dedent(case.body).strip("\n"), "    ")
    if style == "inngest-step-param":
        body = body.replace("ctx.step.", "step.").replace("ctx.step)", "step)")
    header = HEADERS[style].format(options=case.options)
    parts = [textwrap.dedent(case.prelude).strip("\n"), header + body]
    if case.after:
        parts.append(textwrap.dedent(case.after).strip("\n"))
    return "\n\n\n".join(p for p in parts if p) + "\n"


def expected(source: str, code: str) -> list[int]:
    lines = []
    for number, line in enumerate(source.splitlines(), start=1):
        match = _EXPECT.search(line)
        if match and code in re.split(r"\s*,\s*", match.group("codes")):
            lines.append(number)
    return lines


def flagged(source: str, code: str) -> list[int]:
    return sorted({f.line for f in lint_source(source, select=[code]) if f.code == code})


def check(source: str, code: str) -> None:
    assert flagged(source, code) == expected(source, code), source
