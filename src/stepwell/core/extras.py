"""Optional parts and the extras that install them (``pip install 'stepwell[server]'``).

``pip install stepwell`` is the embedded engine on SQLite. The server (``stepwell dev`` /
``start`` / ``ui``, the dashboard) and PostgreSQL need libraries of their own; asking for them
without their extra fails here, before anything starts, with the command that installs it.
"""

from __future__ import annotations

import importlib.util

from stepwell.core.errors import StepwellError

# The modules each extra brings, by their import names.
EXTRAS: dict[str, tuple[str, ...]] = {
    "server": ("starlette", "uvicorn", "jinja2", "graphql"),
    "postgres": ("psycopg",),
    # Metrics need only the first (the server extra brings it too); traces the others.
    "observability": ("prometheus_client", "opentelemetry.sdk", "opentelemetry.exporter.otlp"),
}


class MissingExtraError(StepwellError, ImportError):
    """A part of Stepwell was asked for without the extra that installs its libraries."""


def missing_modules(extra: str, names: tuple[str, ...] | None = None) -> list[str]:
    missing: list[str] = []
    for name in EXTRAS[extra] if names is None else names:
        try:
            found = importlib.util.find_spec(name) is not None
        except ModuleNotFoundError:  # its parent package is not there either
            found = False
        if not found:
            missing.append(name)
    return missing


def require_extra(extra: str, what: str, names: tuple[str, ...] | None = None) -> None:
    """Raise ``MissingExtraError`` unless the extra's modules (or ``names`` of them) exist."""
    missing = missing_modules(extra, names)
    if missing:
        raise MissingExtraError(
            f"{what} needs the {extra!r} extra ({', '.join(missing)} not installed): "
            f"pip install 'stepwell[{extra}]'"
        )
