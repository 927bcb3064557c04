"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.pg_databases import DatabaseSupply

# Every `stepwell dev` a test starts binds a Connect gateway too, by default on its port + 1,
# which another test's free port may be. Tests that use Connect name their port; the others
# let the system pick one (child processes inherit this).
os.environ.setdefault("STEPWELL_CONNECT_PORT", "0")

# The server to create test databases on: trust auth on this machine and in CI.
PG_ADMIN_URL = os.environ.get(
    "STEPWELL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file, for what only SQLite has (pragmas, WAL, the file lock)."""
    return f"sqlite:///{tmp_path / 'stepwell.db'}"


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[DatabaseSupply]:
    """Makes the PostgreSQL databases of the session ahead of time and drops them behind.

    Skipped when no server answers, except in CI (``CI=true``), where that is a failure."""
    try:
        psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {PG_ADMIN_URL} ({exc})".strip()
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(f"{reason}; set STEPWELL_TEST_POSTGRES to use another server")
    supply = DatabaseSupply(PG_ADMIN_URL)
    try:
        yield supply
    finally:
        supply.close()


@pytest.fixture
def pg_url(pg_databases: DatabaseSupply) -> Iterator[str]:
    """A new, empty, uniquely named PostgreSQL database for the test, dropped afterwards."""
    name = pg_databases.take()
    try:
        yield pg_databases.url(name)
    finally:
        pg_databases.give_back(name)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database for the test, on each backend in turn: a real one, never a mock."""
    fixture = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(fixture)
    return url
