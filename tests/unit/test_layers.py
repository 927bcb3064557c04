"""The layers of ``src/stepwell`` (docs: dependencies point down, never up), read from the source.

Every module is parsed with ``ast``; nothing is imported. An import names the most specific
module it reaches: ``from stepwell.sdk import step`` is ``stepwell.sdk.step``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = SRC / "stepwell"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
PACKAGES = {_module_name(p) for p in ROOT.rglob("__init__.py")}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _base(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module if module in PACKAGES else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def _targets(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = _base(module, node)
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in MODULES else base


def _walk(body: list[ast.stmt], *, top_level: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements; with ``top_level``, only those run when the module is imported
    (not inside functions or classes' methods, not under ``if TYPE_CHECKING:``)."""
    for stmt in body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            yield stmt
        elif top_level:
            if isinstance(stmt, ast.If):
                if not _is_type_checking(stmt.test):
                    yield from _walk(stmt.body, top_level=True)
                yield from _walk(stmt.orelse, top_level=True)
            elif isinstance(stmt, ast.Try):
                for block in (stmt.body, stmt.orelse, stmt.finalbody):
                    yield from _walk(block, top_level=True)
                for handler in stmt.handlers:
                    yield from _walk(handler.body, top_level=True)
            elif isinstance(stmt, ast.ClassDef | ast.With):
                yield from _walk(stmt.body, top_level=True)
        else:
            for child in ast.walk(stmt):
                if isinstance(child, ast.Import | ast.ImportFrom):
                    yield child


def imports(module: str, *, top_level: bool = False) -> set[str]:
    """The ``stepwell`` modules ``module`` imports: all of them, or only those at import time."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in _walk(tree.body, top_level=top_level):
        found.update(t for t in _targets(module, node) if t.split(".")[0] == "stepwell")
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def _in_package(package: str) -> list[str]:
    return [m for m in MODULES if _within(m, package)]


def test_the_modules_are_found() -> None:
    assert {"stepwell.drivers.inprocess", "stepwell.sdk.runtime", "stepwell.core"} <= set(MODULES)
    assert "stepwell.sdk.runtime" in imports("stepwell.sdk.step")


def test_no_driver_imports_the_sdk_or_the_server() -> None:
    offending = {
        module: sorted(
            target
            for target in imports(module)
            if _within(target, "stepwell.sdk") or _within(target, "stepwell.server")
        )
        for module in _in_package("stepwell.drivers")
    }
    assert {m: found for m, found in offending.items() if found} == {}


def test_core_imports_nothing_of_stepwell_outside_core() -> None:
    offending = {
        module: sorted(t for t in imports(module) if not _within(t, "stepwell.core"))
        for module in _in_package("stepwell.core")
    }
    assert {m: found for m, found in offending.items() if found} == {}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (as the path that closes it), or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for target in sorted(graph[node]):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                found = visit(target)
                if found is not None:
                    return found
        on_path.discard(path.pop())
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            found = visit(start)
            if found is not None:
                return found
    return None


def test_the_sdk_has_no_import_cycle() -> None:
    sdk = _in_package("stepwell.sdk")
    graph = {m: {t for t in imports(m, top_level=True) if t in sdk and t != m} for m in sdk}
    assert _cycle(graph) is None


def test_no_module_of_stepwell_is_in_an_import_cycle() -> None:
    """Every import counts: at import time, under ``TYPE_CHECKING`` and inside functions. A
    cycle hidden behind a lazy import is still two modules that cannot be read apart."""
    graph = {m: {t for t in imports(m) if t in MODULES and t != m} for m in MODULES}
    assert _cycle(graph) is None


MAX_MODULE_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    long = {
        name: count
        for name, path in MODULES.items()
        if (count := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}, f"split these modules (at most {MAX_MODULE_LINES} lines each): {long}"


def test_the_engine_s_plan_and_keys_are_leaves() -> None:
    """Planning modules build on ``engine.plan`` and ``engine.keys``; those import no other
    engine module but each other, so nothing reaches back up the write path through them."""
    for leaf in ("stepwell.engine.plan", "stepwell.engine.keys"):
        engine_imports = {t for t in imports(leaf) if _within(t, "stepwell.engine")}
        assert engine_imports <= {"stepwell.engine.keys"}, (leaf, engine_imports)


def test_the_server_and_the_sdk_import_no_store_adapter() -> None:
    """Edges read history through the engine's read port, not a store adapter of their own
    (``stepwell.store`` itself, which opens one from a URL, is allowed)."""
    offending = {
        module: sorted(
            t
            for t in imports(module)
            if _within(t, "stepwell.store.sqlite") or _within(t, "stepwell.store.postgres")
        )
        for module in [*_in_package("stepwell.server"), *_in_package("stepwell.sdk")]
    }
    assert {m: found for m, found in offending.items() if found} == {}


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_lint_is_an_edge_that_imports_no_engine_and_no_store() -> None:
    """``stepwell lint`` reads source: it needs nothing of ours outside ``stepwell.lint``."""
    offending = {
        module: sorted(t for t in imports(module) if not _within(t, "stepwell.lint"))
        for module in _in_package("stepwell.lint")
    }
    assert {m: found for m, found in offending.items() if found} == {}
    assert "stepwell.lint.command" in imports("stepwell.cli.basic")  # the CLI's lint command
