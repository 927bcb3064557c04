"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

# The server to create test databases on: trust auth on this machine and in CI.
PG_ADMIN_URL = os.environ.get(
    "STEPWELL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file, for what only SQLite has (pragmas, WAL, the file lock)."""
    return f"sqlite:///{tmp_path / 'stepwell.db'}"


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for the test, dropped afterwards.

    Skipped when no server answers, except in CI (``CI=true``), where that is a failure."""
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc})".strip()
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(f"{reason}; set STEPWELL_TEST_POSTGRES to use another server")
    name = f"stepwell_test_{secrets.token_hex(6)}"
    with admin:
        admin.execute(f"CREATE DATABASE {name}".encode())
        try:
            yield urlunsplit(urlsplit(PG_ADMIN_URL)._replace(path=f"/{name}"))
        finally:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            admin.execute(f"DROP DATABASE IF EXISTS {name}".encode())


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database for the test, on each backend in turn: a real one, never a mock."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(fixture)
    return url
