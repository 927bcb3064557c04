"""``stepwell ui``: the dashboard over any Stepwell database, without a server of its own.

For apps on the embedded engine, which has no server and so no dashboard. On a SQLite file it
reads read-only without the owner's lock (``store/sqlite/readonly.py``) and turns actions off:
the engine that owns the file may run at any time, and one SQLite file has one writer. On
PostgreSQL processes coordinate through the database, so it runs a server runtime there that
executes nothing (no apps of its own, no discovery, no claims, no crons) and the dashboard acts
through it: the processes that own the functions pick up what it commits.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from stepwell.core.extras import require_extra
from stepwell.server.config import ServerConfig
from stepwell.server.settings import MIN_DASHBOARD_KEY

if TYPE_CHECKING:  # the web stack is the server extra's: loaded when the command runs
    from starlette.applications import Starlette

    from stepwell.dashboard import DashboardContext

DASHBOARD_KEY_ENV = "STEPWELL_DASHBOARD_KEY"
OWNED = "another process owns this SQLite file; actions are off"
NOT_OWNED = (
    "stepwell ui opens SQLite files read-only (the engine that owns this file may start at any "
    "time); actions are off"
)


def build_app(database: str, *, login_key: str | None) -> tuple[Starlette, DashboardContext]:
    """The dashboard's ASGI app over ``database`` (opened and closed by its lifespan)."""
    require_extra("server", "stepwell ui")
    from starlette.applications import Starlette

    from stepwell.dashboard import DashboardContext, dashboard_routes

    if database.startswith("sqlite:"):
        from stepwell.store.sqlite.readonly import ReadOnlySqliteHistory, is_locked
        from stepwell.store.sqlite.store import sqlite_path_from_url

        path = sqlite_path_from_url(database)
        if not Path(path).is_file():
            raise ValueError(f"{path}: no such SQLite file")
        history = ReadOnlySqliteHistory(path)
        reason = OWNED if is_locked(path) else NOT_OWNED
        ctx = DashboardContext(
            history=history, apps_store=history, read_only_reason=reason, login_key=login_key
        )

        @asynccontextmanager
        async def read_only(app: Starlette) -> AsyncIterator[None]:
            await history.open()
            try:
                yield
            finally:
                await history.close()

        return Starlette(routes=dashboard_routes(ctx), lifespan=read_only), ctx

    from stepwell.server.runtime import ServerRuntime

    # It executes nothing: the processes that own the functions run the work; this one only
    # commits what its actions decide (cancel, rerun, send, pause ...), which they pick up.
    runtime = ServerRuntime(
        ServerConfig(dev=True, database=database, discovery=False), executes=False
    )
    ctx = DashboardContext.serving(runtime)
    ctx.login_key = login_key

    @asynccontextmanager
    async def serving(app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    return Starlette(routes=dashboard_routes(ctx), lifespan=serving), ctx


def run(args: argparse.Namespace, database: str) -> int:
    import uvicorn

    key = (args.dashboard_key or os.environ.get(DASHBOARD_KEY_ENV) or "").strip() or None
    if key is not None and len(key) < MIN_DASHBOARD_KEY:
        print(
            f"stepwell: --dashboard-key must be at least {MIN_DASHBOARD_KEY} characters",
            file=sys.stderr,
        )
        return 2
    if not 1 <= args.port <= 65535:
        print("stepwell: --port must be from 1 to 65535", file=sys.stderr)
        return 2
    try:
        app, ctx = build_app(database, login_key=key)
    except ValueError as exc:
        print(f"stepwell: {exc}", file=sys.stderr)
        return 1
    mode = f"read only: {ctx.read_only_reason}" if ctx.read_only_reason else "actions on"
    print(
        f"stepwell ui on http://{args.host}:{args.port} (database {database}; {mode})", flush=True
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", lifespan="on")
    return 0
