"""Server settings in layers: command-line flags, then the environment, then ``stepwell.toml``,
then the defaults.

Each setting has one flag, one or more environment variables (the first one set wins, so
``STEPWELL_SIGNING_KEY`` beats Inngest's ``INNGEST_SIGNING_KEY``) and one key in the file, named
like the flag's destination (``--sdk-url`` → ``sdk_urls``). The file holds the keys at its top
level or under a ``[server]`` table. A list given in one layer replaces the lists of the layers
below it; it is not merged with them.

Secrets (``signing_key``, ``event_keys``, ``dashboard_key``) never have to be on the command
line, where other users of the machine can read them in the process list. How each kind of value
is read is in ``setting_kinds``.
"""

from __future__ import annotations

import argparse
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from stepwell.protocol import signing
from stepwell.protocol.durations import DurationError, parse_duration, to_ms
from stepwell.server import observability
from stepwell.server.config import ServerConfig
from stepwell.server.setting_kinds import (
    KIND_NAMES,
    Kind,
    SettingsError,
    Value,
    from_env,
    has_kind,
    toml_type,
)

__all__ = ["SETTINGS", "Setting", "SettingsError", "Value", "config_path", "load", "read_file"]

CONFIG_FILE = "stepwell.toml"
MAX_EVENT = 16 * 1024 * 1024  # what one request body may hold
CONFIG_ENV = "STEPWELL_CONFIG"
MIN_DASHBOARD_KEY = 16
MAX_SESSION_TTL_S = 30 * 24 * 3600
SERVER_TABLE = "server"


@dataclass(frozen=True, slots=True)
class Setting:
    key: str
    """The key in ``stepwell.toml``, and the flag's argparse destination."""
    flag: str
    env: tuple[str, ...]
    """Environment variables, the first one set winning."""
    kind: Kind
    start_only: bool = False
    """Only ``stepwell start`` has it (keys); ``stepwell dev`` ignores it wherever it is set."""


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "--host", ("STEPWELL_HOST",), "str"),
    Setting("port", "--port", ("STEPWELL_PORT",), "int"),
    Setting("database", "--database", ("STEPWELL_DATABASE_URL",), "str"),
    Setting("sdk_urls", "--sdk-url", ("STEPWELL_SDK_URL",), "list"),
    Setting("retry_interval", "--retry-interval", ("STEPWELL_RETRY_INTERVAL",), "float"),
    Setting("poll_interval", "--poll-interval", ("STEPWELL_POLL_INTERVAL",), "float"),
    Setting("no_discovery", "--no-discovery", ("STEPWELL_NO_DISCOVERY",), "bool"),
    Setting("lease", "--lease", ("STEPWELL_LEASE",), "float"),
    Setting("apps", "--app", ("STEPWELL_APP",), "list"),
    Setting("connect_port", "--connect-port", ("STEPWELL_CONNECT_PORT",), "int"),
    Setting("connect_lease", "--connect-lease", ("STEPWELL_CONNECT_LEASE",), "float"),
    Setting("connect_heartbeat", "--connect-heartbeat", ("STEPWELL_CONNECT_HEARTBEAT",), "float"),
    Setting("retention", "--retention", ("STEPWELL_RETENTION",), "duration"),
    Setting("max_event_bytes", "--max-event-bytes", ("STEPWELL_MAX_EVENT_BYTES",), "int"),
    *(Setting(*spec) for spec in observability.SETTINGS),
    Setting(
        "signing_key",
        "--signing-key",
        ("STEPWELL_SIGNING_KEY", "INNGEST_SIGNING_KEY"),
        "str",
        start_only=True,
    ),
    Setting(
        "signing_key_fallback",
        "--signing-key-fallback",
        ("STEPWELL_SIGNING_KEY_FALLBACK", "INNGEST_SIGNING_KEY_FALLBACK"),
        "str",
        start_only=True,
    ),
    Setting(
        "event_keys",
        "--event-key",
        ("STEPWELL_EVENT_KEY", "INNGEST_EVENT_KEY"),
        "list",
        start_only=True,
    ),
    Setting(
        "dashboard_key", "--dashboard-key", ("STEPWELL_DASHBOARD_KEY",), "str", start_only=True
    ),
    Setting(
        "dashboard_session_ttl",
        "--dashboard-session-ttl",
        ("STEPWELL_DASHBOARD_SESSION_TTL",),
        "duration",
        start_only=True,
    ),
)
BY_KEY = {setting.key: setting for setting in SETTINGS}


@dataclass(frozen=True, slots=True)
class _Found:
    value: Value
    source: str
    """Where the value came from, for error messages: ``--port``, ``STEPWELL_PORT``, or
    ``'port' in /srv/stepwell.toml``."""


def load(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    dev: bool,
    cwd: str | os.PathLike[str] | None = None,
) -> ServerConfig:
    """The server's configuration from every layer, the file found with :func:`config_path`."""
    return server_config(args, environ, config_path(args, environ, cwd=cwd), dev=dev)


def config_path(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    *,
    cwd: str | os.PathLike[str] | None = None,
) -> Path | None:
    """``--config``, else ``$STEPWELL_CONFIG`` (either must exist), else ``./stepwell.toml`` if
    there is one, else no file."""
    base = Path.cwd() if cwd is None else Path(cwd)
    flag = getattr(args, "config", None)
    named, source = (flag, "--config") if flag else (_env(environ, CONFIG_ENV), CONFIG_ENV)
    if named:
        path = base / Path(named).expanduser()
        if not path.is_file():
            raise SettingsError(f"{source}: no such file: {path}")
        return path
    default = base / CONFIG_FILE
    return default if default.is_file() else None


def server_config(
    args: argparse.Namespace,
    environ: Mapping[str, str],
    path: str | os.PathLike[str] | None,
    *,
    dev: bool,
) -> ServerConfig:
    """Flags (``args``; ``None`` means not given) over ``environ`` over the file at ``path``
    (``None``: no file) over the defaults. Raises :class:`SettingsError`."""
    file_values, prefix = _read(path) if path is not None else ({}, "")
    file_name = str(path) if path is not None else CONFIG_FILE
    found: dict[str, _Found] = {}
    for setting in SETTINGS:
        if setting.start_only and dev:
            continue
        value = _lookup(setting, args, environ, file_values, (prefix, file_name))
        if value is not None:
            found[setting.key] = value

    config = ServerConfig(dev=dev)
    if "host" in found:
        config.host = _non_empty(found["host"])
    if "port" in found:
        config.port = _port(found["port"])
    if "database" in found:
        config.database = _non_empty(found["database"])
    if "sdk_urls" in found:
        config.sdk_urls = _strings(found["sdk_urls"])
    if "retry_interval" in found:
        config.retry_interval_s = _seconds(found["retry_interval"], minimum=0.0, inclusive=True)
    if "poll_interval" in found:
        config.poll_interval_s = _seconds(found["poll_interval"], minimum=0.0, inclusive=False)
    if "lease" in found:
        config.lease_s = _seconds(found["lease"], minimum=1.0, inclusive=True)
    config.discovery = dev and not ("no_discovery" in found and found["no_discovery"].value)
    if "apps" in found:
        config.apps = _strings(found["apps"])
    if "connect_port" in found:
        config.connect_port = _port(found["connect_port"], any_free=True)
    if "connect_lease" in found:
        config.connect_lease_s = _seconds(found["connect_lease"], minimum=2.0, inclusive=True)
    if "connect_heartbeat" in found:
        beat = found["connect_heartbeat"]
        config.connect_heartbeat_s = _seconds(beat, minimum=1.0, inclusive=True)
    if "retention" in found:
        config.retention_ms = _retention(found["retention"])
    if "max_event_bytes" in found:
        config.max_event_bytes = _event_bytes(found["max_event_bytes"])
    observability.apply(config, found)
    if dev:
        return config

    if "signing_key" not in found:
        raise SettingsError(_missing(BY_KEY["signing_key"], "a signing key", file_name))
    config.signing_key = _signing_key(found["signing_key"])
    if "signing_key_fallback" in found:
        config.signing_key_fallback = _signing_key(found["signing_key_fallback"])
    keys = _strings(found["event_keys"]) if "event_keys" in found else []
    if not keys:
        raise SettingsError(_missing(BY_KEY["event_keys"], "at least one event key", file_name))
    config.event_keys = keys
    if "dashboard_key" in found:
        config.dashboard_key = _dashboard_key(found["dashboard_key"])
    if "dashboard_session_ttl" in found:
        config.dashboard_session_ttl_s = _session_ttl(found["dashboard_session_ttl"])
    return config


def read_file(path: str | os.PathLike[str]) -> dict[str, Value]:
    """The settings in a ``stepwell.toml``, each checked to be a known key of the right type."""
    return _read(path)[0]


def _read(path: str | os.PathLike[str]) -> tuple[dict[str, Value], str]:
    """The settings and the prefix of their keys in messages (``server.`` under ``[server]``)."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML: {exc}") from None
    prefix = ""
    if SERVER_TABLE in document:
        table = document[SERVER_TABLE]
        if not isinstance(table, dict):
            raise SettingsError(f"{SERVER_TABLE!r} in {path} must be a table ([{SERVER_TABLE}])")
        others = sorted(key for key in document if key != SERVER_TABLE)
        if others:
            raise SettingsError(
                f"unknown key {others[0]!r} in {path}: with a [{SERVER_TABLE}] table, every "
                "setting goes in it"
            )
        document, prefix = table, f"{SERVER_TABLE}."
    values: dict[str, Value] = {}
    for key, raw in document.items():
        setting = BY_KEY.get(key)
        if setting is None:
            known = ", ".join(s.key for s in SETTINGS)
            raise SettingsError(f"unknown key {prefix + key!r} in {path} (known keys: {known})")
        if not has_kind(raw, setting.kind):
            raise SettingsError(
                f"{prefix + key!r} in {path} must be {KIND_NAMES[setting.kind]}, "
                f"got {toml_type(raw)}"
            )
        values[key] = raw
    return values, prefix


# -- finding a value in the layers ---------------------------------------------------------------


def _lookup(
    setting: Setting,
    args: argparse.Namespace,
    environ: Mapping[str, str],
    file_values: Mapping[str, Value],
    file_source: tuple[str, str],
) -> _Found | None:
    flag_value = getattr(args, setting.key, None)
    if flag_value is not None:
        return _Found(flag_value, setting.flag)
    for name in setting.env:
        text = _env(environ, name)
        if text is not None:
            return _Found(from_env(text, setting.kind, name), name)
    if setting.key in file_values:
        prefix, file_name = file_source
        return _Found(file_values[setting.key], f"{prefix + setting.key!r} in {file_name}")
    return None


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """A variable's text; set but empty counts as not set."""
    text = environ.get(name, "").strip()
    return text or None


# -- checking values ----------------------------------------------------------------------------


def _non_empty(found: _Found) -> str:
    text = str(found.value).strip()
    if not text:
        raise SettingsError(f"{found.source} must not be empty")
    return text


def _strings(found: _Found) -> list[str]:
    assert isinstance(found.value, list)
    items = [str(item).strip() for item in found.value]
    if any(not item for item in items):
        raise SettingsError(f"{found.source} must not contain an empty string")
    return items


def _event_bytes(found: _Found) -> int:
    value = found.value
    if isinstance(value, bool) or not isinstance(value, int) or not 1024 <= value <= MAX_EVENT:
        raise SettingsError(f"{found.source}: expected a byte count from 1024 to {MAX_EVENT}")
    return value


def _port(found: _Found, *, any_free: bool = False) -> int:
    """A port number; with ``any_free``, 0 too (the system picks a free port)."""
    value = found.value
    assert isinstance(value, int)
    lowest = 0 if any_free else 1
    if not lowest <= value <= 65535:
        raise SettingsError(f"{found.source} must be a port from {lowest} to 65535, got {value}")
    return value


def _seconds(found: _Found, *, minimum: float, inclusive: bool) -> float:
    value = found.value
    assert isinstance(value, int | float)
    seconds = float(value)
    ok = seconds >= minimum if inclusive else seconds > minimum
    if not math.isfinite(seconds) or not ok:
        if minimum == 0.0:
            rule = "must not be negative" if inclusive else "must be positive"
        else:
            rule = f"must be at least {minimum:g} second{'s' if minimum != 1 else ''}"
        raise SettingsError(f"{found.source} {rule}, got {value}")
    return seconds


def _retention(found: _Found) -> int:
    text = str(found.value)
    try:
        ms = to_ms(parse_duration(text))
    except DurationError as exc:
        raise SettingsError(f"{found.source}: {exc}") from None
    if ms <= 0:
        raise SettingsError(
            f"{found.source} must be a positive duration such as '30d', got {text!r}"
        )
    return ms


def _signing_key(found: _Found) -> str:
    key = str(found.value).strip()
    plain = signing.strip_prefix(key)
    try:
        if not plain or len(plain) % 2:
            raise ValueError
        bytes.fromhex(plain)
    except ValueError:
        raise SettingsError(
            f"{found.source} must be an even-length hex string, optionally after a "
            "'signkey-<env>-' prefix"
        ) from None
    return key


def _dashboard_key(found: _Found) -> str:
    key = str(found.value).strip()
    if len(key) < MIN_DASHBOARD_KEY:
        raise SettingsError(
            f"{found.source} must be at least {MIN_DASHBOARD_KEY} characters (a long random "
            "string: it is all that stands between the network and the dashboard)"
        )
    return key


def _session_ttl(found: _Found) -> int:
    text = str(found.value)
    try:
        ms = to_ms(parse_duration(text))
    except DurationError as exc:
        raise SettingsError(f"{found.source}: {exc}") from None
    if not 1000 <= ms <= MAX_SESSION_TTL_S * 1000:
        raise SettingsError(
            f"{found.source} must be a duration from 1s to 30d such as '12h', got {text!r}"
        )
    return ms // 1000


def _missing(setting: Setting, what: str, file_name: str) -> str:
    official = setting.env[1:]
    env = setting.env[0] + (f" (or {', '.join(official)})" if official else "")
    return (
        f"stepwell start needs {what}: pass {setting.flag}, set {env}, "
        f"or set {setting.key!r} in {file_name}"
    )
