"""Fixtures for serving our SDK over HTTP."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest

from tests.integration.sdk.serving import FakeInngest, serving


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No INNGEST_* setting of the machine running the tests leaks into them."""
    for name in list(os.environ):
        if name.startswith("INNGEST_") or name.endswith("_GIT_BRANCH"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("VERCEL_GIT_COMMIT_REF", raising=False)


@pytest.fixture
async def fake_api() -> AsyncIterator[tuple[FakeInngest, str]]:
    """A fake Inngest API on loopback: (the recorder, its base URL)."""
    fake = FakeInngest()
    async with serving(fake.asgi()) as url:
        yield fake, url
