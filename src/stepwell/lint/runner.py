"""Linting files: find them, lint each (``files.lint_file``: parse those that may define
durable functions, walk each function with the rule groups selected, drop what ``# noqa``
silences), in worker processes when there are many (``parallel``). Nothing linted is imported.
"""

from __future__ import annotations

import ast
import gc
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from stepwell.lint import config, parallel, rules
from stepwell.lint.files import FileResult, Job, Module, lint_file, lint_module
from stepwell.lint.names import module_info
from stepwell.lint.rules import Finding

SKIPPED_DIRECTORIES = frozenset(
    {".git", ".hg", ".venv", "venv", "__pycache__", "node_modules", ".tox", ".nox", "build",
     "dist", ".mypy_cache", ".ruff_cache", ".pytest_cache", "site-packages"}
)  # fmt: skip


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


def _display(path: Path, resolved: Path) -> str:
    try:
        return resolved.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def collect(
    paths: Sequence[str], overrides: Overrides
) -> Iterator[tuple[Path, Path, config.Config]]:
    """Every Python file under ``paths`` (once each), resolved, with the configuration that
    applies."""
    seen: set[Path] = set()
    for path, conf in _collect(paths, overrides):
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            yield path, resolved, conf


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


def lint_paths(
    paths: Sequence[str], overrides: Overrides | None = None, *, jobs: int | None = None
) -> Result:
    """Lint every Python file under ``paths``, in ``jobs`` processes (default: as many as pay
    for themselves, see ``parallel``; 1: in this one). Raises ``PathError``,
    ``config.ConfigError`` or ``rules.SelectionError`` on usage errors."""
    # Parsed trees hold no reference cycles, and the collector scanning them as they are made
    # cost more than the parsing itself (3x, measured with bench/lint.py). Forked workers start
    # with it off as well.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _lint_paths(paths, overrides or Overrides(), jobs)
    finally:
        if enabled:
            gc.enable()


def _lint_paths(paths: Sequence[str], overrides: Overrides, jobs: int | None) -> Result:
    work: list[Job] = []
    selections: dict[int, tuple[config.Config, frozenset[str]]] = {}
    for path, resolved, conf in collect(paths, overrides):
        known = selections.get(id(conf))
        if known is None:
            known = selections[id(conf)] = (conf, selection(conf, overrides))
        work.append(Job(path, _display(path, resolved), known[1]))
    results = parallel.map_jobs(work, parallel.workers(len(work), jobs))
    typed = _typed_events(results)
    findings: list[Finding] = []
    for job, result in zip(work, results, strict=True):
        if result.imports is not None:
            # Linted with only its own typed events: again if it can see others'.
            reach = _in_reach(result.events, result.imports, typed)
            if reach != result.events:
                result = lint_file(job, reach)
        findings.extend(result.findings)
    findings.sort(key=lambda f: (f.path, f.line, f.col, f.code))
    return Result(findings, len(work))


def _typed_events(results: Sequence[FileResult]) -> dict[str, dict[str, str]]:
    """Typed event classes of every file: class name -> {event name: class name}."""
    typed: dict[str, dict[str, str]] = {}
    for result in results:
        for event, cls in result.events.items():
            typed.setdefault(cls, {})[event] = cls
    return typed


def _in_reach(
    events: dict[str, str], imports: dict[str, str], typed: dict[str, dict[str, str]]
) -> dict[str, str]:
    """The typed events a module can use: its own classes, and those it imports by name."""
    reach = dict(events)
    for name, target in imports.items():
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
    module = Module(module_info(path, tree), source)
    chosen = rules.select(list(select) if select is not None else None, None, None)
    findings.extend(lint_module(module, chosen, module.info.events))
    findings.sort(key=lambda f: (f.line, f.col, f.code))
    return findings
