"""Every test here runs on both event loops the server meets: asyncio's (tests, embedded
engines, ``stepwell dev`` without uvloop) and uvloop's (``stepwell dev`` when installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import uvloop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
