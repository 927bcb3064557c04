"""Linting files: find them, parse those that may define durable functions, walk each function
with the rule groups selected, drop what ``# noqa`` silences. Nothing linted is imported."""

from __future__ import annotations

import ast
import gc
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from stepwell.lint import config, rules
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

SKIPPED_DIRECTORIES = frozenset(
    {".git", ".hg", ".venv", "venv", "__pycache__", "node_modules", ".tox", ".nox", "build",
     "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache", "site-packages"}
)  # fmt: skip
_NOQA = re.compile(r"#\s*noqa(?::\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)
# Only files containing one of these can define a durable function or a typed event.
_MARKERS = (".function(", "create_function", "EventData")


class PathError(ValueError):
    """A path given to lint that does not exist."""


@dataclass(frozen=True, slots=True)
class Overrides:
    """Rule selection from the command line, applied over each file's configuration."""

    select: list[str] | None = None
    ignore: list[str] | None = None
    extend_select: list[str] | None = None
    isolated: bool = False


@dataclass(slots=True)
class Result:
    findings: list[Finding]
    files: int


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def collect(paths: Sequence[str], overrides: Overrides) -> Iterator[tuple[Path, config.Config]]:
    """Every Python file under ``paths`` (once each) with the configuration that applies."""
    seen: set[Path] = set()
    for path, conf in _collect(paths, overrides):
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            yield path, conf


def _collect(paths: Sequence[str], overrides: Overrides) -> Iterator[tuple[Path, config.Config]]:
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise PathError(f"{given}: no such file or directory")
        if path.is_file():
            conf = config.Config() if overrides.isolated else config.find(path)
            if not conf.excludes(path):
                yield path, conf
            continue
        for directory, subdirectories, files in os.walk(path):
            subdirectories[:] = sorted(d for d in subdirectories if d not in SKIPPED_DIRECTORIES)
            here = Path(directory)
            conf = config.Config() if overrides.isolated else config.find(here)
            if conf.excludes(here):
                subdirectories[:] = []
                continue
            for name in sorted(files):
                if name.endswith((".py", ".pyi")) and not conf.excludes(here / name):
                    yield here / name, conf


def selection(conf: config.Config, overrides: Overrides) -> frozenset[str]:
    select = overrides.select if overrides.select is not None else conf.select
    ignore = [*conf.ignore, *(overrides.ignore or [])]
    extend = [*conf.extend_select, *(overrides.extend_select or [])]
    return rules.select(select, ignore, extend)


def _silenced(line: str, code: str) -> bool:
    if "#" not in line:
        return False
    match = _NOQA.search(line)
    if match is None:
        return False
    codes = match.group("codes")
    return codes is None or code in re.split(r"[\s,]+", codes.upper())


class _Module:
    __slots__ = ("info", "source")

    def __init__(self, info: ModuleInfo, source: str) -> None:
        self.info = info
        self.source = source


def _parse(path: Path, shown: str, findings: list[Finding]) -> _Module | None:
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        findings.append(Finding(shown, 1, 1, "SW000", rules.message("SW000", str(exc))))
        return None
    if not any(marker in source for marker in _MARKERS):
        return None
    try:
        tree = ast.parse(source, filename=shown)
    except SyntaxError as exc:
        what = exc.msg
        findings.append(Finding(shown, exc.lineno or 1, exc.offset or 1, "SW000", what))
        return None
    return _Module(module_info(shown, tree), source)


def _groups(selected: frozenset[str], report: Report, typed: dict[str, str]) -> list[RuleGroup]:
    groups: list[RuleGroup] = [
        g(report) for g in (Determinism, SideEffects, Steps, Escapes) if g.codes & selected
    ]
    if "SW112" in selected:
        groups.append(Events(report, typed))
    return groups


def lint_module(module: _Module, selected: frozenset[str], typed: dict[str, str]) -> list[Finding]:
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


def lint_paths(paths: Sequence[str], overrides: Overrides | None = None) -> Result:
    """Lint every Python file under ``paths``. Raises ``PathError``, ``config.ConfigError`` or
    ``rules.SelectionError`` on usage errors."""
    # Parsed trees are kept until every file is read (typed events are looked up across
    # files); they hold no reference cycles, and the collector re-scanning them as they pile up
    # cost more than the parsing itself (3x, measured with bench/lint.py).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _lint_paths(paths, overrides or Overrides())
    finally:
        if enabled:
            gc.enable()


def _lint_paths(paths: Sequence[str], overrides: Overrides) -> Result:
    findings: list[Finding] = []
    modules: list[tuple[_Module, frozenset[str]]] = []
    files = 0
    for path, conf in collect(paths, overrides):
        files += 1
        module = _parse(path, _display(path), findings)
        if module is not None:
            modules.append((module, selection(conf, overrides)))
    typed = _typed_events(m.info for m, _ in modules)
    for module, selected in modules:
        findings.extend(lint_module(module, selected, _in_reach(module.info, typed)))
    findings.sort(key=lambda f: (f.path, f.line, f.col, f.code))
    return Result(findings, files)


def _typed_events(modules: Iterable[ModuleInfo]) -> dict[str, dict[str, str]]:
    """Typed event classes of every file: class name -> {event name: class name}."""
    typed: dict[str, dict[str, str]] = {}
    for info in modules:
        for event, cls in info.events.items():
            typed.setdefault(cls, {})[event] = cls
    return typed


def _in_reach(info: ModuleInfo, typed: dict[str, dict[str, str]]) -> dict[str, str]:
    """The typed events a module can use: its own classes, and those it imports by name."""
    reach = dict(info.events)
    for name, target in info.imports.items():
        classes = typed.get(target.rpartition(".")[2])
        if classes is not None and name not in reach.values():
            reach.update(classes)
    return reach


def lint_source(
    source: str, path: str = "<source>", select: Sequence[str] | None = None
) -> list[Finding]:
    """Lint one module's source (``select``: rule codes or prefixes; default: the defaults)."""
    findings: list[Finding] = []
    tree = ast.parse(source, filename=path)
    module = _Module(module_info(path, tree), source)
    chosen = rules.select(list(select) if select is not None else None, None, None)
    findings.extend(lint_module(module, chosen, module.info.events))
    findings.sort(key=lambda f: (f.line, f.col, f.code))
    return findings
