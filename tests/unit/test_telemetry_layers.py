"""Only the telemetry adapters import Prometheus's client or OpenTelemetry; the engine, the
ports, the core, the drivers and the SDK never do, not even inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "src" / "stepwell"
LIBRARIES = ("prometheus_client", "opentelemetry")
ADAPTERS = ("telemetry",)


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def test_only_the_adapters_import_metrics_or_tracing_libraries() -> None:
    offending = {
        str(path.relative_to(ROOT)): sorted(
            name for name in _imported(path) if name.split(".")[0] in LIBRARIES
        )
        for path in ROOT.rglob("*.py")
        if path.relative_to(ROOT).parts[0] not in ADAPTERS
    }
    assert {module: names for module, names in offending.items() if names} == {}


def test_the_engine_does_not_pick_its_adapters() -> None:
    for package in ("engine", "ports", "core", "drivers"):
        for path in (ROOT / package).rglob("*.py"):
            assert not any(n.startswith("stepwell.telemetry") for n in _imported(path)), path
