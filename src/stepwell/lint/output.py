"""The formats findings are written in: ``text`` (``path:line:col: SW101 message``), ``json``
(a list of objects) and ``github`` (workflow commands GitHub shows as annotations)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from stepwell.lint.rules import Finding

FORMATS = ("text", "json", "github")


def text(findings: Sequence[Finding], *, show_fixes: bool = False) -> str:
    lines: list[str] = []
    for f in findings:
        lines.append(f"{f.path}:{f.line}:{f.col}: {f.code} {f.message}")
        if show_fixes:
            lines.append(f"    fix: {f.rule.fix}")
    return "".join(f"{line}\n" for line in lines)


def as_json(findings: Sequence[Finding]) -> str:
    rows = [
        {
            "code": f.code,
            "name": f.rule.name,
            "message": f.message,
            "fix": f.rule.fix,
            "advice": f.rule.advice,
            "path": f.path,
            "line": f.line,
            "column": f.col,
        }
        for f in findings
    ]
    return json.dumps(rows, indent=2) + "\n"


def _escape(value: str, *, property_: bool = False) -> str:
    value = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_:
        value = value.replace(":", "%3A").replace(",", "%2C")
    return value


def github(findings: Sequence[Finding]) -> str:
    lines = []
    for f in findings:
        level = "warning" if f.rule.advice else "error"
        props = (
            f"file={_escape(f.path, property_=True)},line={f.line},col={f.col},"
            f"title={_escape(f'{f.code} {f.rule.name}', property_=True)}"
        )
        lines.append(f"::{level} {props}::{_escape(f'{f.code} {f.message}')}\n")
    return "".join(lines)


def render(findings: Sequence[Finding], fmt: str, *, show_fixes: bool = False) -> str:
    if fmt == "json":
        return as_json(findings)
    if fmt == "github":
        return github(findings)
    return text(findings, show_fixes=show_fixes)
