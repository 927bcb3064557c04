"""Store adapters. ``open_store(url)`` picks one from a database URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stepwell.core.extras import require_extra
from stepwell.ports.store import Store

if TYPE_CHECKING:
    from stepwell.store.postgres.relay import PostgresRelay

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def open_store(url: str, *, durability: str = "full") -> Store:
    """``sqlite:///relative.db``, ``sqlite:////absolute.db``, ``sqlite://:memory:``, or
    ``postgresql://user:password@host:port/database`` (also ``postgres://``)."""
    if url.startswith("sqlite:"):
        from stepwell.store.sqlite.store import SqliteStore, sqlite_path_from_url

        return SqliteStore(sqlite_path_from_url(url), durability=durability)
    if url.startswith(_POSTGRES_SCHEMES):
        require_extra("postgres", "a PostgreSQL database")
        from stepwell.store.postgres.store import PostgresStore

        return PostgresStore(url, durability=durability)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ValueError(
        f"unsupported database URL scheme {scheme!r}: expected sqlite:///path.db or "
        "postgresql://user@host:port/database"
    )


async def migrate_database(url: str) -> list[int] | None:
    """Bring the schema at ``url`` up to date: the versions applied (PostgreSQL), or None
    (SQLite, which migrates when a store opens its file)."""
    if url.startswith(_POSTGRES_SCHEMES):
        require_extra("postgres", "a PostgreSQL database")
        from stepwell.store.postgres.store import PostgresStore

        return await PostgresStore(url).migrate()
    store = open_store(url)
    await store.open()
    await store.close()
    return None


def open_connect_relay(url: str, process_id: str | None = None) -> PostgresRelay | None:
    """What carries requests between processes sharing the database at ``url`` (Connect
    calls, async checkpoints): PostgreSQL's relay, or None (SQLite: one process serves
    everything). ``process_id`` names this process to the others (the engine's lease owner)."""
    if not url.startswith(_POSTGRES_SCHEMES):
        return None
    require_extra("postgres", "a PostgreSQL database")
    from stepwell.store.postgres.relay import PostgresRelay

    return PostgresRelay(url, process_id=process_id)
