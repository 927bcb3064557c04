"""``[tool.stepwell.lint]`` in ``pyproject.toml``: the nearest file with that table, looking
from a linted path upward. Keys: ``select``, ``ignore``, ``extend-select`` (rule codes or
prefixes, ``ALL``) and ``exclude`` (globs, relative to the file's directory)."""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

_KEYS = ("select", "ignore", "extend-select", "exclude")


class ConfigError(ValueError):
    """A ``[tool.stepwell.lint]`` table that cannot be used."""


@dataclass(frozen=True, slots=True)
class Config:
    root: Path | None = None
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)
    extend_select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)

    def excludes(self, path: Path) -> bool:
        if not self.exclude or self.root is None:
            return False
        try:
            relative = path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return False
        parts = relative.split("/")
        for pattern in self.exclude:
            pattern = pattern.rstrip("/")
            if fnmatch.fnmatch(relative, pattern) or any(
                fnmatch.fnmatch("/".join(parts[: i + 1]), pattern) for i in range(len(parts))
            ):
                return True
        return False


def _strings(table: dict[str, object], key: str, source: Path) -> list[str] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{source}: [tool.stepwell.lint] {key} must be a list of strings")
    return [str(v) for v in value]


def read(pyproject: Path) -> Config | None:
    """The table in ``pyproject``, or None if it has none."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{pyproject}: {exc}") from exc
    table = data.get("tool", {}).get("stepwell", {}).get("lint")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.stepwell.lint] must be a table")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise ConfigError(
            f"{pyproject}: unknown key(s) in [tool.stepwell.lint]: {', '.join(unknown)} "
            f"(known: {', '.join(_KEYS)})"
        )
    return Config(
        root=pyproject.parent.resolve(),
        select=_strings(table, "select", pyproject),
        ignore=_strings(table, "ignore", pyproject) or [],
        extend_select=_strings(table, "extend-select", pyproject) or [],
        exclude=_strings(table, "exclude", pyproject) or [],
    )


@lru_cache(maxsize=256)
def _for_directory(directory: Path) -> Config:
    candidate = directory / "pyproject.toml"
    if candidate.is_file():
        found = read(candidate)
        if found is not None:
            return found
    if directory.parent == directory:
        return Config()
    return _for_directory(directory.parent)


def find(path: Path) -> Config:
    """The configuration that applies to ``path`` (a file or a directory)."""
    resolved = path.resolve()
    return _for_directory(resolved if resolved.is_dir() else resolved.parent)
