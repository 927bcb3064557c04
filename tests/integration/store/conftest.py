"""The ``store`` the behaviour suites run against: each test on SQLite, then on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stepwell.ports.store import Store
from stepwell.store import open_store


@pytest.fixture(params=["sqlite-file", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path / 'store.db'}"
    opened = open_store(url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()
