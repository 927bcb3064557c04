"""``TestEngine``: the test kit's front door, async (``async with``) or sync (``.sync``)."""

from __future__ import annotations

from typing import Any

from stepwell.sdk.app import App
from stepwell.testing.kit import EngineKit
from stepwell.testing.sync import SyncTestEngine


class TestEngine(EngineKit):
    """``async with TestEngine(app) as t:`` the app's functions on a real engine, a fresh
    SQLite database and a ``VirtualClock`` (``t.clock``) starting at ``start`` (now).

    Options: ``start``, ``database`` (a temporary file by default, or ``":memory:"``),
    ``steps`` (stubs for every run of a function, ``{fn: {"step id": stub}}``),
    ``retry_interval`` or ``backoff``, ``max_event_bytes``, ``timeout`` (the real seconds
    any wait may take, 10 by default).
    """

    __test__ = False  # a class named Test* that pytest must not collect

    @classmethod
    def sync(cls, app: App, **options: Any) -> SyncTestEngine:
        """The same for plain ``def`` tests: ``with TestEngine.sync(app) as t:``. The engine
        runs on an event loop in a thread of its own; every method blocks until done."""
        return SyncTestEngine(cls(app, **options))
