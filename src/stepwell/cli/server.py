"""``stepwell dev``, ``stepwell start`` and ``stepwell ui``: the server and the dashboard.

Every server flag defaults to None, meaning "not given": the environment, then stepwell.toml,
then the defaults fill in (``stepwell.server.settings``). Flags that others add (logging,
metrics) go in ``SERVER_OPTIONS`` or ``START_OPTIONS`` with a setting of the same key.
"""

from __future__ import annotations

import argparse
import importlib
import os
import socket
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

import stepwell
from stepwell.core.extras import MissingExtraError, require_extra
from stepwell.server import observability, settings
from stepwell.server.config import DEFAULT_PORT, ServerConfig

DEV_DATABASE = "sqlite:///.stepwell/dev.db"
F = TypeVar("F", bound=Callable[..., Any])


def _options(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(function: F) -> F:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function

    return apply


SERVER_OPTIONS = _options(
    click.option(
        "--config",
        default=None,
        metavar="PATH",
        help="settings file (default: $STEPWELL_CONFIG, else ./stepwell.toml if present)",
    ),
    click.option("--host", default=None, help="address to listen on ($STEPWELL_HOST; 127.0.0.1)"),
    click.option(
        "--port", type=int, default=None, help=f"port ($STEPWELL_PORT; default {DEFAULT_PORT})"
    ),
    click.option(
        "--database",
        default=None,
        help="database URL ($STEPWELL_DATABASE_URL; default sqlite:///.stepwell/dev.db)",
    ),
    click.option(
        "-u",
        "--sdk-url",
        "sdk_urls",
        multiple=True,
        help="URL of an app to sync (repeatable; $STEPWELL_SDK_URL, comma-separated)",
    ),
    click.option(
        "--retry-interval",
        type=float,
        default=None,
        help="seconds between retries, instead of Inngest's backoff table "
        "($STEPWELL_RETRY_INTERVAL)",
    ),
    click.option(
        "--poll-interval",
        type=float,
        default=None,
        help="seconds between app re-syncs ($STEPWELL_POLL_INTERVAL; default 5)",
    ),
    click.option(
        "--no-discovery",
        is_flag=True,
        default=None,
        help="do not look for apps on local ports ($STEPWELL_NO_DISCOVERY=1)",
    ),
    click.option(
        "--lease",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long claimed work stays with a process that stopped renewing it "
        "($STEPWELL_LEASE; default 30)",
    ),
    click.option(
        "--app",
        "apps",
        multiple=True,
        metavar="MODULE:ATTR",
        help="serve a stepwell.App at /api/inngest on this port and sync it "
        "(repeatable; $STEPWELL_APP, comma-separated)",
    ),
    click.option(
        "--connect-port",
        type=int,
        default=None,
        help="port of the Connect gateway, where workers open their WebSocket "
        "($STEPWELL_CONNECT_PORT; default: --port + 1; 0: any free port)",
    ),
    click.option(
        "--connect-lease",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long a Connect worker holds a request without extending its lease "
        "($STEPWELL_CONNECT_LEASE; default 20)",
    ),
    click.option(
        "--connect-heartbeat",
        type=float,
        default=None,
        metavar="SECONDS",
        help="heartbeat interval of Connect workers; one silent for 3 is dropped "
        "($STEPWELL_CONNECT_HEARTBEAT; default 10)",
    ),
    click.option(
        "--retention",
        default=None,
        metavar="DURATION",
        help="delete ended runs and unneeded events older than this, e.g. 30d "
        "($STEPWELL_RETENTION; default: keep everything)",
    ),
    click.option(
        "--max-event-bytes",
        type=int,
        default=None,
        metavar="BYTES",
        help="the largest event accepted ($STEPWELL_MAX_EVENT_BYTES; default 3 MiB, "
        "Inngest's maximum)",
    ),
    click.option(
        "--log-level",
        default=None,
        type=click.Choice(observability.LEVELS),
        help="least severe log lines printed ($STEPWELL_LOG_LEVEL; default info)",
    ),
    click.option(
        "--log-format",
        default=None,
        type=click.Choice(observability.FORMATS),
        help="log lines as text or JSON objects ($STEPWELL_LOG_FORMAT; default text)",
    ),
)

# Not required here: the keys may come from the environment or stepwell.toml instead.
START_OPTIONS = _options(
    click.option(
        "--signing-key",
        default=None,
        help="hex signing key, even length ($STEPWELL_SIGNING_KEY or $INNGEST_SIGNING_KEY)",
    ),
    click.option(
        "--signing-key-fallback",
        default=None,
        help="a second accepted signing key, for rotating keys ($STEPWELL_SIGNING_KEY_FALLBACK "
        "or $INNGEST_SIGNING_KEY_FALLBACK)",
    ),
    click.option(
        "--event-key",
        "event_keys",
        multiple=True,
        help="an accepted event key (repeatable; $STEPWELL_EVENT_KEY or $INNGEST_EVENT_KEY, "
        "comma-separated)",
    ),
    click.option(
        "--dashboard-key",
        default=None,
        help="what the dashboard asks for to log in, instead of the signing key "
        "($STEPWELL_DASHBOARD_KEY; at least 16 characters)",
    ),
    click.option(
        "--dashboard-session-ttl",
        default=None,
        metavar="DURATION",
        help="how long a dashboard login lasts, e.g. 12h ($STEPWELL_DASHBOARD_SESSION_TTL; "
        "default 12h)",
    ),
    click.option(
        "--metrics-public",
        is_flag=True,
        default=None,
        help="serve /metrics without the signing key ($STEPWELL_METRICS_PUBLIC=1)",
    ),
)


def namespace(command: str, params: dict[str, Any]) -> argparse.Namespace:
    """Click's parameters as the settings loader reads them: None for "not given" (an
    empty repeatable option, an absent flag), lists for repeated options."""
    values: dict[str, Any] = {"command": command}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value) or None
        values[key] = value
    return argparse.Namespace(**values)


def config_from(args: argparse.Namespace, *, dev: bool) -> ServerConfig:
    """Flags over the environment over stepwell.toml over the defaults; exits 2 on a bad one."""
    try:
        return settings.load(args, os.environ, dev=dev)
    except settings.SettingsError as exc:
        print(f"stepwell: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def database_from(given: str | None) -> str:
    return given or os.environ.get("STEPWELL_DATABASE_URL") or DEV_DATABASE


def load_app(spec: str) -> stepwell.App:
    """``package.module:attribute`` → the App it names."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"stepwell: --app {spec!r}: expected MODULE:ATTR, e.g. examples.shop:app")
    sys.path.insert(0, os.getcwd())
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"stepwell: --app {spec!r}: {exc}") from None
    if not isinstance(found, stepwell.App):
        raise SystemExit(f"stepwell: --app {spec!r} is not a stepwell.App")
    return found


def serve(config: ServerConfig, apps: Sequence[str] | None = None) -> None:
    """Run the server; ``apps`` (default: ``config.apps``) are served on our SDK and synced."""
    what = f"stepwell {'dev' if config.dev else 'start'}"
    require_extra("server", what)
    require_extra("server", what, ("httptools",))  # the listener is uvicorn's httptools protocol
    observability.setup_logging(config)
    import uvicorn
    from starlette.routing import BaseRoute, Mount

    from stepwell.server.app import create_app
    from stepwell.server.connect_gateway import with_gateway
    from stepwell.server.listener import uvicorn_config
    from stepwell.server.runtime import ServerRuntime

    # Both ports are bound before anything is built, so a port in use fails at once. A
    # Connect port of 0 takes any free one (tests, and servers that never serve Connect).
    sockets = [_listen(config.host, config.port), _listen(config.host, config.gateway_port)]
    if config.connect_port == 0:
        config.connect_port = int(sockets[1].getsockname()[1])
    routes: list[BaseRoute] = []
    for index, spec in enumerate(config.apps if apps is None else apps):
        # Served on our SDK over HTTP on this same port, and synced like any other app.
        path = "/api/inngest" if index == 0 else f"/api/inngest/{index}"
        served = stepwell.serve(
            load_app(spec),
            is_dev=config.dev,
            base_url=config.origin,
            signing_key=config.signing_key,
            signing_key_fallback=config.signing_key_fallback,
            event_key=config.event_keys[0] if config.event_keys else None,
        )
        routes.append(Mount(path, served))
        config.sdk_urls.append(f"{config.origin}{path}/")
    from stepwell.dashboard import DashboardContext, dashboard_routes

    runtime = ServerRuntime(config)
    # The dashboard checks its own sessions (production), so the API's Bearer guard passes it.
    dashboard = DashboardContext.serving(runtime)
    dashboard.session_ttl_s = config.dashboard_session_ttl_s
    routes.extend(dashboard_routes(dashboard))
    # The Connect gateway (workers' WebSockets) listens on a port of its own, in this server.
    app = with_gateway(create_app(runtime, extra_routes=routes), runtime)
    # The start-up banner is logged by the runtime once the first sync pass is done.
    server = uvicorn.Server(uvicorn_config(app))
    server.run(sockets=sockets)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio's loop turns Nagle off only on sockets that say TCP (uvloop
    # always does); otherwise each small answer waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"stepwell: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _run_server(command: str, params: dict[str, Any]) -> int:
    args = namespace(command, params)
    try:
        config = config_from(args, dev=command == "dev")
        serve(config, args.apps)
    except MissingExtraError as exc:
        print(f"stepwell: {exc}", file=sys.stderr)
        return 2
    return 0


@click.command(help="Run a local development server (permissive).")
@SERVER_OPTIONS
def dev(**params: Any) -> int:
    return _run_server("dev", params)


@click.command(help="Run a production server (keys, signing).")
@SERVER_OPTIONS
@START_OPTIONS
def start(**params: Any) -> int:
    return _run_server("start", params)


@click.command(help="Serve the dashboard over a Stepwell database (e.g. an embedded engine's).")
@click.option(
    "--database",
    default=None,
    help="database URL (default: $STEPWELL_DATABASE_URL, else sqlite:///.stepwell/dev.db)",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="port")
@click.option(
    "--dashboard-key",
    default=None,
    help="ask for this key to log in ($STEPWELL_DASHBOARD_KEY; default: no login)",
)
def ui(database: str | None, host: str, port: int, dashboard_key: str | None) -> int:
    from stepwell import ui as dashboard_ui

    args = argparse.Namespace(host=host, port=port, dashboard_key=dashboard_key)
    try:
        return dashboard_ui.run(args, database_from(database))
    except MissingExtraError as exc:
        print(f"stepwell: {exc}", file=sys.stderr)
        return 2


COMMANDS = [dev, start, ui]
