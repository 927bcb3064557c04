"""Linting one file: read it, skip it if it cannot define a durable function, parse it, walk
each durable function with the rule groups selected, drop what ``# noqa`` silences.

A file is linted on its own, given the typed events it can reach (SW112 only): the rest of
the tree matters to nothing else. That is what lets files be linted in any order, or in worker
processes, with the findings of a serial run (``runner.lint_paths`` puts them in order).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from stepwell.lint import rules
from stepwell.lint.determinism import Determinism
from stepwell.lint.discover import durable_functions
from stepwell.lint.escapes import Escapes
from stepwell.lint.events import Events
from stepwell.lint.names import ModuleInfo, module_info
from stepwell.lint.rules import Finding
from stepwell.lint.scope import Report, RuleGroup
from stepwell.lint.side_effects import SideEffects
from stepwell.lint.steps import Steps
from stepwell.lint.walker import Walker

_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)
# The textual pre-check: a file is parsed only if it contains one of these. Every rule reports
# from inside a durable function, found by its decorator: a call of an attribute named
# ``function`` (``@app.function(``) or ``create_function``; the only thing a file without one
# gives the others is its typed event classes (SW112), whose bases name ``EventData``. So a
# file with none of these strings has no finding and nothing for other files, and is not
# parsed (nor reported if it does not parse). The check is on the usual spelling: a decorator
# written ``@app.function (...)``, ``@(app.function)(...)`` or with non-ASCII letters would be
# skipped (a sound check would be ``"function" in source or not source.isascii()``, which parses
# more files, and reports SW000 in files it skips today).
_MARKERS = (".function(", "create_function", "EventData")


@dataclass(frozen=True, slots=True)
class Job:
    """A file to lint: where to read it, how findings name it, and the rules in force."""

    path: Path
    shown: str
    selected: frozenset[str]


@dataclass(slots=True)
class FileResult:
    findings: list[Finding]
    # The typed event classes the file declares: event name -> class name.
    events: dict[str, str]
    # Its imports, when SW112 is in force (they say which other files' typed events it sees).
    imports: dict[str, str] | None = None


def _silenced(line: str, code: str) -> bool:
    if "#" not in line:
        return False
    match = _NOQA.search(line)
    if match is None:
        return False
    codes = match.group("codes")
    return codes is None or code in re.split(r"[\s,]+", codes.upper())


class Module:
    __slots__ = ("info", "source")

    def __init__(self, info: ModuleInfo, source: str) -> None:
        self.info = info
        self.source = source


def lint_file(job: Job, reach: dict[str, str] | None = None) -> FileResult:
    """Lint ``job``'s file; ``reach``: the typed events it can use (default: its own)."""
    shown = job.shown
    try:
        source = job.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return FileResult([Finding(shown, 1, 1, "SW000", rules.message("SW000", str(exc)))], {})
    if not any(marker in source for marker in _MARKERS):
        return FileResult([], {})
    try:
        tree = ast.parse(source, filename=shown)
    except SyntaxError as exc:
        return FileResult([Finding(shown, exc.lineno or 1, exc.offset or 1, "SW000", exc.msg)], {})
    info = module_info(shown, tree)
    typed = info.events if reach is None else reach
    findings = lint_module(Module(info, source), job.selected, typed)
    imports = info.imports if "SW112" in job.selected else None
    return FileResult(findings, info.events, imports)


def lint_files(jobs: list[Job]) -> list[FileResult]:
    """``lint_file`` of each job, in order (the unit of work of a worker process)."""
    return [lint_file(job) for job in jobs]


def _groups(selected: frozenset[str], report: Report, typed: dict[str, str]) -> list[RuleGroup]:
    groups: list[RuleGroup] = [
        g(report) for g in (Determinism, SideEffects, Steps, Escapes) if g.codes & selected
    ]
    if "SW112" in selected:
        groups.append(Events(report, typed))
    return groups


def lint_module(module: Module, selected: frozenset[str], typed: dict[str, str]) -> list[Finding]:
    functions = durable_functions(module.info)
    if not functions or not selected:
        return []
    found: dict[tuple[int, int, str], Finding] = {}
    lines = module.source.splitlines()
    path = module.info.path

    def report(node: ast.AST, code: str, what: str, detail: str) -> None:
        if code not in selected:
            return
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0) + 1
        key = (line, col, code)
        if key in found or (line <= len(lines) and _silenced(lines[line - 1], code)):
            return
        found[key] = Finding(path, line, col, code, rules.message(code, what, detail))

    walker = Walker(_groups(selected, report, typed))
    for function in functions:
        walker.walk(function, module.info)
    return list(found.values())
