"""``stepwell doctor``: is this deployment healthy? Each check prints ok, warn or FAIL.

The database answers and its schema is current (``--database``), or the server's health
(``--url``); every synced app answers at its URL, speaks the SDK protocol, and (given the
signing key) accepts our signature; and the clocks of the server and the apps agree with
this machine's within ``--max-skew`` seconds (sleeps and timeouts run on them).
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import click
import httpx

from stepwell.cli import output
from stepwell.cli.common import run
from stepwell.cli.local import Local
from stepwell.cli.remote import Remote
from stepwell.cli.target import Target, target_options

Check = tuple[str, str, str]  # (name, "ok" | "warn" | "fail", what was found)


def _skew(response: httpx.Response) -> float | None:
    header = response.headers.get("date")
    if not header:
        return None
    try:
        # The header has whole seconds, cut off: the middle of that second is the estimate.
        return parsedate_to_datetime(header).timestamp() + 0.5 - time.time()
    except (TypeError, ValueError):
        return None


async def _database(target: Local) -> list[Check]:
    reads = await target.reads()
    checks: list[Check] = [("database reachable", "ok", target.database)]
    package = (
        "stepwell.store.sqlite"
        if target.database.startswith("sqlite:")
        else ("stepwell.store.postgres")
    )
    from stepwell.store.migrations import load_migrations

    known = {m.version for m in load_migrations(package)}
    rows = await reads._query("SELECT version FROM schema_migrations")
    applied = {int(row[0]) for row in rows}
    missing = sorted(known - applied)
    if missing:
        checks.append(
            ("schema current", "fail", f"migrations {missing} not applied: run stepwell migrate")
        )
    elif applied - known:
        checks.append(("schema current", "warn", "newer than this stepwell: upgrade it"))
    else:
        checks.append(("schema current", "ok", f"version {max(applied, default=0)}"))
    return checks


async def _server(target: Remote, max_skew: float) -> list[Check]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        try:
            response = await client.get(f"{target.url}/health")
        except httpx.HTTPError as exc:
            return [("server reachable", "fail", f"{target.url}: {exc or type(exc).__name__}")]
    checks: list[Check] = [("server reachable", "ok", target.url)]
    body = response.json() if response.headers.get("content-type", "").startswith("appl") else {}
    if response.status_code == 200:
        checks.append(("database reachable", "ok", "the server's health check passes"))
    else:
        checks.append(("database reachable", "fail", str(body.get("message") or response.text)))
    checks.append(_clock("server clock", _skew(response), max_skew))
    return checks


def _clock(name: str, skew: float | None, max_skew: float) -> Check:
    if skew is None:
        return (name, "warn", "no Date header to compare with")
    state = "ok" if abs(skew) <= max_skew else "fail"
    return (name, state, f"{skew:+.1f}s from this machine")


async def _app(app: dict[str, Any], key: str | None, max_skew: float) -> list[Check]:
    from stepwell.protocol import signing

    name = f"app {app['name']}"
    headers = {}
    if key:
        headers["X-Inngest-Signature"] = signing.signature(b"", key)
    async with httpx.AsyncClient(timeout=10.0) as client:
        try:
            response = await client.get(app["url"], headers=headers)
        except httpx.HTTPError as exc:
            return [(name, "fail", f"{app['url']}: cannot reach it ({exc or type(exc).__name__})")]
    if "x-inngest-sdk" not in {k.lower() for k in response.headers}:
        return [(name, "fail", f"{app['url']}: no Inngest SDK answered ({response.status_code})")]
    checks: list[Check] = [(name, "ok", f"{app['url']} ({response.headers['x-inngest-sdk']})")]
    try:
        body = response.json()
    except ValueError:
        body = {}
    if key and isinstance(body, dict) and "authentication_succeeded" in body:
        signed = body.get("authentication_succeeded")
        checks.append(
            (
                f"{name} signing",
                "ok" if signed else "fail",
                "accepts our signature" if signed else "refuses our signing key",
            )
        )
    elif app.get("error"):
        checks.append((f"{name} sync", "fail", str(app["error"])))
    checks.append(_clock(f"{name} clock", _skew(response), max_skew))
    return checks


@click.command(help="Check the database, the schema, the apps, signing and clocks.")
@click.option("--max-skew", type=float, default=5.0, show_default=True, metavar="SECONDS")
@target_options
def doctor(target: Target, as_json: bool, max_skew: float) -> int:
    import os

    key = os.environ.get("STEPWELL_SIGNING_KEY") or None
    if isinstance(target, Remote) and target.key:
        key = target.key

    async def work(t: Target) -> int:
        checks = await (_database(t) if isinstance(t, Local) else _server(t, max_skew))
        if all(state != "fail" for _, state, _ in checks):
            for app in await t.apps():
                checks += await _app(app, key, max_skew)
        failed = any(state == "fail" for _, state, _ in checks)
        if as_json:
            output.print_json(
                {
                    "ok": not failed,
                    "checks": [{"check": c, "state": s, "detail": d} for c, s, d in checks],
                }
            )
        else:
            output.table("Checks", ["check", "state", "detail"], checks)
        return 1 if failed else 0

    return run(target, work)


COMMANDS = [doctor]
