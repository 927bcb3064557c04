"""CEL expressions over ``event`` and ``async`` (trigger ``if``, ``wait_for_event`` ``if``).

Compiled once per source string and cached: evaluation of a compiled program costs ~9 us.
"""

from __future__ import annotations

import functools
import importlib.machinery
import importlib.util
import json
import sys
from typing import Any

from stepwell.core.errors import ConfigError


class ExpressionError(ConfigError):
    """An expression that does not compile or cannot be evaluated."""


@functools.cache
def _cel() -> Any:
    """The CEL extension module (``cel.cel``), loaded without running the ``cel`` package's
    ``__init__``: that imports its command-line tool (typer, rich, prompt_toolkit), which
    costs ~150 ms of start-up and is never used here. Registered under its own name, so a
    later ``import cel`` by anyone finds and reuses it."""
    loaded = sys.modules.get("cel.cel")
    if loaded is not None:
        return loaded
    package = importlib.util.find_spec("cel")  # locates the package without importing it
    locations = None if package is None else package.submodule_search_locations
    spec = importlib.machinery.PathFinder.find_spec("cel.cel", list(locations or []))
    if spec is None or spec.loader is None:
        import cel  # an unusual layout: take the package as it comes

        return cel
    module = importlib.util.module_from_spec(spec)
    sys.modules["cel.cel"] = module
    spec.loader.exec_module(module)
    return module


@functools.lru_cache(maxsize=4096)
def compile_expression(source: str) -> Any:
    try:
        return _cel().compile(source)
    except ValueError as exc:
        raise ExpressionError(f"invalid expression {source!r}: {exc}") from exc


def evaluate_bool(source: str, variables: dict[str, Any]) -> bool:
    """True only when the expression yields ``true``; a missing field counts as no match."""
    program = compile_expression(source)
    try:
        return program.execute(variables) is True
    except (KeyError, ValueError, TypeError, RuntimeError):
        return False


def match_expression(field_path: str) -> str:
    """``match="data.order_id"`` means the waiting run's and the new event's field are equal."""
    path = field_path.strip()
    if not path or any(ch.isspace() for ch in path):
        raise ExpressionError(f"invalid match field {field_path!r}: expected a path like data.id")
    path = path.removeprefix("event.")
    return f"event.{path} == async.{path}"


def evaluate_key(source: str, variables: dict[str, Any]) -> str:
    """A key expression's value as text (``event.data.tenant`` → ``"acme"``); ``""`` if it
    cannot be evaluated, so such events share one key."""
    program = compile_expression(source)
    try:
        value = program.execute(variables)
    except (KeyError, ValueError, TypeError, RuntimeError):
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)
