"""Fixtures shared by every test tier."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh SQLite file for the test: a real database, never a mock."""
    return f"sqlite:///{tmp_path / 'stepwell.db'}"
