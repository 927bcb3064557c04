"""Store adapters. ``open_store(url)`` picks one from a database URL."""

from __future__ import annotations

from stepwell.ports.store import Store


def open_store(url: str, *, durability: str = "full") -> Store:
    """``sqlite:///relative.db``, ``sqlite:////absolute.db`` or ``sqlite://:memory:``."""
    if url.startswith("sqlite:"):
        from stepwell.store.sqlite.store import SqliteStore, sqlite_path_from_url

        return SqliteStore(sqlite_path_from_url(url), durability=durability)
    scheme = url.split(":", 1)[0] if ":" in url else url
    raise ValueError(f"unsupported database URL scheme {scheme!r}: expected sqlite:///path.db")
