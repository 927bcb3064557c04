"""The ``stepwell`` command: ``dev``, ``start``, ``send``, ``migrate``, ``prune``, ``ui``,
``version``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import socket
import sys
from collections.abc import Sequence

import httpx

import stepwell
from stepwell import ui
from stepwell.core.extras import MissingExtraError, require_extra
from stepwell.server import observability, settings
from stepwell.server.config import DEFAULT_PORT, ServerConfig

DEV_DATABASE = "sqlite:///.stepwell/dev.db"


def _server_options(parser: argparse.ArgumentParser) -> None:
    # Every default is None, meaning "not given": the environment, then stepwell.toml, then the
    # defaults fill in (stepwell.server.settings).
    parser.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        help="settings file (default: $STEPWELL_CONFIG, else ./stepwell.toml if present)",
    )
    parser.add_argument(
        "--host", default=None, help="address to listen on ($STEPWELL_HOST; default 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port to listen on ($STEPWELL_PORT; default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--database",
        default=None,
        help="database URL ($STEPWELL_DATABASE_URL; default sqlite:///.stepwell/dev.db)",
    )
    parser.add_argument(
        "-u",
        "--sdk-url",
        action="append",
        default=None,
        dest="sdk_urls",
        help="URL of an app to sync (repeatable; $STEPWELL_SDK_URL, comma-separated)",
    )
    parser.add_argument(
        "--retry-interval",
        type=float,
        default=None,
        help="seconds between retries, instead of Inngest's backoff table "
        "($STEPWELL_RETRY_INTERVAL)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        help="seconds between app re-syncs ($STEPWELL_POLL_INTERVAL; default 5)",
    )
    parser.add_argument(
        "--no-discovery",
        action="store_true",
        default=None,
        help="do not look for apps on local ports ($STEPWELL_NO_DISCOVERY=1)",
    )
    parser.add_argument(
        "--lease",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long claimed work stays with a process that stopped renewing it "
        "($STEPWELL_LEASE; default 30)",
    )
    parser.add_argument(
        "--app",
        action="append",
        default=None,
        dest="apps",
        metavar="MODULE:ATTR",
        help="serve a stepwell.App at /api/inngest on this port and sync it "
        "(repeatable; $STEPWELL_APP, comma-separated)",
    )
    parser.add_argument(
        "--connect-port",
        type=int,
        default=None,
        help="port of the Connect gateway, where workers open their WebSocket "
        "($STEPWELL_CONNECT_PORT; default: --port + 1)",
    )
    parser.add_argument(
        "--connect-lease",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long a Connect worker holds a request without extending its lease "
        "($STEPWELL_CONNECT_LEASE; default 20)",
    )
    parser.add_argument(
        "--connect-heartbeat",
        type=float,
        default=None,
        metavar="SECONDS",
        help="heartbeat interval of Connect workers; one silent for 3 is dropped "
        "($STEPWELL_CONNECT_HEARTBEAT; default 10)",
    )
    parser.add_argument(
        "--retention",
        default=None,
        metavar="DURATION",
        help="delete ended runs and unneeded events older than this, e.g. 30d "
        "($STEPWELL_RETENTION; default: keep everything)",
    )
    parser.add_argument(
        "--max-event-bytes",
        type=int,
        default=None,
        metavar="BYTES",
        help="the largest event accepted ($STEPWELL_MAX_EVENT_BYTES; default 3 MiB, "
        "Inngest's maximum)",
    )
    observability.add_options(parser)


def _start_options(parser: argparse.ArgumentParser) -> None:
    # Not required here: the keys may come from the environment or stepwell.toml instead.
    parser.add_argument(
        "--signing-key",
        default=None,
        help="hex signing key, even length ($STEPWELL_SIGNING_KEY or $INNGEST_SIGNING_KEY)",
    )
    parser.add_argument(
        "--signing-key-fallback",
        default=None,
        help="a second accepted signing key, for rotating keys ($STEPWELL_SIGNING_KEY_FALLBACK "
        "or $INNGEST_SIGNING_KEY_FALLBACK)",
    )
    parser.add_argument(
        "--event-key",
        action="append",
        default=None,
        dest="event_keys",
        help="an accepted event key (repeatable; $STEPWELL_EVENT_KEY or $INNGEST_EVENT_KEY, "
        "comma-separated)",
    )
    parser.add_argument(
        "--dashboard-key",
        default=None,
        help="what the dashboard asks for to log in, instead of the signing key "
        "($STEPWELL_DASHBOARD_KEY; at least 16 characters)",
    )
    parser.add_argument(
        "--dashboard-session-ttl",
        default=None,
        metavar="DURATION",
        help="how long a dashboard login lasts, e.g. 12h ($STEPWELL_DASHBOARD_SESSION_TTL; "
        "default 12h)",
    )
    observability.add_start_options(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stepwell", description=stepwell.__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="run a local development server (permissive)")
    _server_options(dev)
    start = commands.add_parser("start", help="run a production server (keys, signing)")
    _server_options(start)
    _start_options(start)
    send = commands.add_parser("send", help="send an event to a running server")
    send.add_argument("name", help="event name")
    send.add_argument("--data", default="{}", help="event data as a JSON object")
    send.add_argument("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", help="server URL")
    send.add_argument("--event-key", default="NO_EVENT_KEY_SET", help="event key")
    migrate = commands.add_parser(
        "migrate", help="bring the database schema up to date, then exit (safe to run often)"
    )
    migrate.add_argument(
        "--database",
        default=None,
        help="database URL (default: $STEPWELL_DATABASE_URL, else sqlite:///.stepwell/dev.db)",
    )
    prune = commands.add_parser(
        "prune", help="delete ended runs and unneeded events older than a window, then exit"
    )
    prune.add_argument(
        "--older-than", required=True, metavar="DURATION", help="the window, e.g. 7d, 30d, 12h"
    )
    prune.add_argument(
        "--database",
        default=None,
        help="database URL (default: $STEPWELL_DATABASE_URL, else sqlite:///.stepwell/dev.db)",
    )
    prune.add_argument(
        "--batch-size", type=int, default=500, metavar="N", help="rows per transaction"
    )
    ui.add_parser(commands)
    commands.add_parser("version", help="print the version")
    return parser


def database_from(args: argparse.Namespace) -> str:
    url: str = args.database or os.environ.get("STEPWELL_DATABASE_URL") or DEV_DATABASE
    return url


def config_from(args: argparse.Namespace, *, dev: bool) -> ServerConfig:
    """Flags over the environment over stepwell.toml over the defaults; exits 2 on a bad one."""
    try:
        return settings.load(args, os.environ, dev=dev)
    except settings.SettingsError as exc:
        print(f"stepwell: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


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
    require_extra("server", f"stepwell {'dev' if config.dev else 'start'}")
    observability.setup_logging(config)
    import uvicorn
    from starlette.routing import BaseRoute, Mount

    from stepwell.server.app import create_app
    from stepwell.server.connect_gateway import with_gateway
    from stepwell.server.runtime import ServerRuntime

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
    sockets = [_listen(config.host, config.port), _listen(config.host, config.gateway_port)]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    server.run(sockets=sockets)


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SystemExit(f"stepwell: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def send(args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.data)
    except ValueError as exc:
        print(f"stepwell: --data is not valid JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(data, dict):
        print("stepwell: --data must be a JSON object", file=sys.stderr)
        return 2
    url = f"{args.url.rstrip('/')}/e/{args.event_key}"
    try:
        response = httpx.post(url, json={"name": args.name, "data": data}, timeout=10.0)
    except httpx.HTTPError as exc:
        print(f"stepwell: could not reach {url}: {exc}", file=sys.stderr)
        return 1
    print(response.text)
    return 0 if response.status_code == 200 else 1


def migrate(args: argparse.Namespace) -> int:
    from stepwell.store import migrate_database

    try:
        applied = asyncio.run(migrate_database(database_from(args)))
    except Exception as exc:  # a bad URL, an unreachable server, a failed migration
        print(f"stepwell: migrating failed: {exc}", file=sys.stderr)
        return 1
    if applied is None:
        print("stepwell: the database is up to date")
    elif applied:
        print(f"stepwell: applied migrations {', '.join(str(v) for v in applied)}")
    else:
        print("stepwell: the database is up to date (nothing to apply)")
    return 0


def prune(args: argparse.Namespace) -> int:
    from stepwell.ports.clock import SystemClock
    from stepwell.ports.retention import Pruner, PruneResult
    from stepwell.protocol.durations import DurationError, instant_from_ms, parse_duration, to_ms
    from stepwell.store import open_store

    try:
        window_ms = to_ms(parse_duration(args.older_than))
    except DurationError as exc:
        print(f"stepwell: --older-than: {exc}", file=sys.stderr)
        return 2
    if window_ms <= 0:
        print("stepwell: --older-than must be more than zero, e.g. 7d", file=sys.stderr)
        return 2
    if args.batch_size < 1:
        print("stepwell: --batch-size must be at least 1", file=sys.stderr)
        return 2
    cutoff = SystemClock().now_ms() - window_ms

    async def run() -> PruneResult:
        store = open_store(database_from(args))
        if not isinstance(store, Pruner):
            raise TypeError(f"{type(store).__name__} cannot prune")
        await store.open()
        try:
            return await store.prune(older_than_ms=cutoff, batch_size=args.batch_size)
        finally:
            await store.close()

    try:
        result = asyncio.run(run())
    except Exception as exc:  # a bad URL, an unreachable server, a SQLite file in use
        print(f"stepwell: pruning failed: {exc}", file=sys.stderr)
        return 1
    before = instant_from_ms(cutoff)
    print(
        f"stepwell: deleted {result.runs} runs, {result.events} events and "
        f"{result.idempotency_keys} expired idempotency keys from before {before} "
        f"({result.batches} batches)"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "version":
        print(f"stepwell {stepwell.__version__}")
        return 0
    if args.command == "send":
        return send(args)
    if args.command == "migrate":
        return migrate(args)
    if args.command == "prune":
        return prune(args)
    try:
        if args.command == "ui":
            return ui.run(args, database_from(args))
        serve(config_from(args, dev=args.command == "dev"), args.apps)
    except MissingExtraError as exc:
        print(f"stepwell: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
