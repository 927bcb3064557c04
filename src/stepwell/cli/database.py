"""``stepwell migrate`` and ``stepwell prune``: maintenance straight on a database."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

import click

from stepwell.cli.output import counting, spinner
from stepwell.cli.server import database_from

DATABASE_HELP = "database URL (default: $STEPWELL_DATABASE_URL, else sqlite:///.stepwell/dev.db)"


@click.command(help="Bring the database schema up to date, then exit (safe to run often).")
@click.option("--database", default=None, help=DATABASE_HELP)
def migrate(database: str | None) -> int:
    from stepwell.store import migrate_database

    try:
        with spinner("migrating"):
            applied = asyncio.run(migrate_database(database_from(database)))
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


@click.command(help="Delete ended runs and unneeded events older than a window, then exit.")
@click.option("--older-than", required=True, metavar="DURATION", help="the window: 7d, 30d, 12h")
@click.option("--database", default=None, help=DATABASE_HELP)
@click.option("--batch-size", type=int, default=500, metavar="N", help="rows per transaction")
def prune(older_than: str, database: str | None, batch_size: int) -> int:
    from stepwell.ports.clock import SystemClock
    from stepwell.ports.retention import Pruner, PruneResult
    from stepwell.protocol.durations import DurationError, instant_from_ms, parse_duration, to_ms
    from stepwell.store import open_store

    try:
        window_ms = to_ms(parse_duration(older_than))
    except DurationError as exc:
        print(f"stepwell: --older-than: {exc}", file=sys.stderr)
        return 2
    if window_ms <= 0:
        print("stepwell: --older-than must be more than zero, e.g. 7d", file=sys.stderr)
        return 2
    if batch_size < 1:
        print("stepwell: --batch-size must be at least 1", file=sys.stderr)
        return 2
    cutoff = SystemClock().now_ms() - window_ms

    async def run(report: Callable[[str], None]) -> PruneResult:
        store = open_store(database_from(database))
        if not isinstance(store, Pruner):
            raise TypeError(f"{type(store).__name__} cannot prune")
        await store.open()

        def batch_done(so_far: PruneResult) -> None:
            report(
                f"{so_far.runs} runs, {so_far.events} events, {so_far.idempotency_keys} keys "
                f"({so_far.batches} batches)"
            )

        try:
            return await store.prune(
                older_than_ms=cutoff, batch_size=batch_size, on_batch=batch_done
            )
        finally:
            await store.close()

    try:
        with counting("pruning") as report:
            result = asyncio.run(run(report))
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


COMMANDS = [migrate, prune]
