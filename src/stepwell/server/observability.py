"""The server's logs and metrics settings (``--log-level``, ``--log-format``,
``--metrics-public``) and its start-up banner. No web framework here: the command line reads
these settings before it knows whether the server extra is installed."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from stepwell.server.config import ServerConfig
from stepwell.server.setting_kinds import Kind, SettingsError
from stepwell.telemetry.logs import FORMATS, LEVELS, configure_logging

__all__ = ["FORMATS", "LEVELS", "SETTINGS", "apply", "banner", "setup_logging"]

log = logging.getLogger("stepwell.server")

SETTINGS: tuple[tuple[str, str, tuple[str, ...], Kind, bool], ...] = (
    ("log_level", "--log-level", ("STEPWELL_LOG_LEVEL",), "str", False),
    ("log_format", "--log-format", ("STEPWELL_LOG_FORMAT",), "str", False),
    ("metrics_public", "--metrics-public", ("STEPWELL_METRICS_PUBLIC",), "bool", True),
)
"""``settings.Setting`` fields: key, flag, environment variables, kind, ``start`` only."""


class Found(Protocol):
    @property
    def value(self) -> Any: ...

    @property
    def source(self) -> str: ...


def _choice(found: Found, choices: tuple[str, ...]) -> str:
    text = str(found.value).strip().lower()
    if text not in choices:
        raise SettingsError(f"{found.source} must be one of {', '.join(choices)}, got {text!r}")
    return text


def apply(config: ServerConfig, found: Mapping[str, Found]) -> None:
    if "log_level" in found:
        config.log_level = _choice(found["log_level"], LEVELS)
    if "log_format" in found:
        config.log_format = _choice(found["log_format"], FORMATS)
    if "metrics_public" in found:
        config.metrics_public = bool(found["metrics_public"].value)


def setup_logging(config: ServerConfig) -> None:
    configure_logging(config.log_level, config.log_format)


def banner(
    config: ServerConfig, apps: Mapping[str, int], pending: Sequence[str], traces: bool
) -> None:
    """The start-up lines: where the server is, how it runs, and what it serves (``apps``:
    synced apps and their function counts; ``pending``: URLs not synced yet)."""
    names = ", ".join(
        f"{name} ({count} function{'' if count == 1 else 's'})" for name, count in apps.items()
    )
    synced = f"{len(apps)} synced" + (f": {names}" if apps else "")
    if pending:
        synced += f"; not synced: {', '.join(pending)}"
    if config.dev:
        mode = "dev (open: no keys needed" + (
            "; apps on local ports are discovered)" if config.discovery else ")"
        )
    else:
        mode = "production (signing key and event keys required)"
    metrics = f"{config.origin}/metrics" + (
        "" if config.dev or config.metrics_public else " (signing key required)"
    )
    lines = [
        f"stepwell {'dev server' if config.dev else 'server'} ready at {config.origin}",
        f"  mode       {mode}",
        f"  database   {config.database}",
        f"  dashboard  {config.origin}/",
        f"  connect    ws://{config.host}:{config.gateway_port}/v0/connect",
        f"  apps       {synced}",
        f"  metrics    {metrics}",
        f"  traces     {'exported over OTLP' if traces else 'off (no OTEL_EXPORTER_OTLP_*)'}",
    ]
    fields = {"url": config.origin, "app": list(apps)}
    log.info("%s", "\n".join(lines), extra={"summary": lines[0], **fields})
