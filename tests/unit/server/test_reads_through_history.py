"""The server reads through ``engine.history`` and the engine's public methods, never through
the engine's store: it parses every server module and fails on any ``.store`` attribute."""

from __future__ import annotations

import ast
from pathlib import Path

import stepwell.server

SERVER = Path(stepwell.server.__file__).parent


def _store_accesses(source: str) -> list[int]:
    """Lines that read an attribute named ``store`` (``runtime.engine.store``, ``e.store``)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr == "store"
    ]


def test_the_checker_sees_store_accesses() -> None:
    assert _store_accesses("x = runtime.engine.store.get_run('r')\n") == [1]
    assert _store_accesses("def f(engine):\n    s = engine.store\n") == [2]
    assert _store_accesses("x = runtime.engine.history.get_run('r')\n") == []
    assert _store_accesses("from stepwell.store import open_store\n") == []


def test_no_server_module_reads_the_engines_store() -> None:
    modules = sorted(SERVER.rglob("*.py"))
    assert len(modules) > 10, modules  # the server's modules were found
    found = {
        str(path.relative_to(SERVER)): lines
        for path in modules
        if (lines := _store_accesses(path.read_text("utf-8")))
    }
    assert found == {}, f"server modules read engine.store (read engine.history): {found}"


def test_no_dashboard_module_reads_the_engines_store() -> None:
    """The dashboard is an edge like the server: it reads through its context's history."""
    import stepwell.dashboard

    root = Path(stepwell.dashboard.__file__).parent
    modules = sorted(root.rglob("*.py"))
    assert len(modules) > 10, modules
    found = {
        str(path.relative_to(root)): lines
        for path in modules
        if (lines := _store_accesses(path.read_text("utf-8")))
    }
    assert found == {}, f"dashboard modules read engine.store (read ctx.history): {found}"
