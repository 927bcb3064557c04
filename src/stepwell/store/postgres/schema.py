"""Migrations for PostgreSQL: safe when several processes start at once.

Every process runs them at open. A transaction-scoped advisory lock makes them take turns: the
first applies what is missing, the others then find it recorded in ``schema_migrations`` and
apply nothing. Each run of migrations is one transaction, so a failure leaves no half schema.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from stepwell.store.migrations import load_migrations

# Any bigint will do; this one is "stepwell" in ASCII, recognisable in pg_locks.
_LOCK_KEY = 0x73746570_77656C6C


async def migrate(conn: AsyncConnection[Any]) -> list[int]:
    """Apply the migrations not applied yet; returns their versions."""
    applied_now: list[int] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        cursor = await conn.execute("SELECT version FROM schema_migrations")
        applied = {row[0] for row in await cursor.fetchall()}
        for migration in load_migrations("stepwell.store.postgres"):
            if migration.version in applied:
                continue
            # Plain text with several statements: sent as a simple query, no parameters.
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
            applied_now.append(migration.version)
    return applied_now
