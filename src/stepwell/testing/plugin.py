"""The pytest plugin: the ``stepwell_engine`` fixture and the ``stepwell_app`` marker.

Loaded through the ``pytest11`` entry point of the ``stepwell`` package (or ``-p
stepwell.testing.plugin``). Pick the app per test, class or module with the marker, by the
object or by its import path; options after it go to ``TestEngine``::

    pytestmark = pytest.mark.stepwell_app("shop.app:app", start=datetime(2026, 1, 1))

    async def test_order(stepwell_engine: TestEngine) -> None: ...
    def test_order_sync(stepwell_engine: SyncTestEngine) -> None: ...

or once for the whole suite, in the pytest configuration: ``stepwell_app = "shop.app:app"``.
An ``async def`` test gets a ``TestEngine``, a plain ``def`` test a ``SyncTestEngine``: the
engine runs on a thread of its own in both cases, so the fixture needs no async plugin and
works with pytest-asyncio, anyio or none.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from typing import Any

import pytest

from stepwell.sdk.app import App
from stepwell.testing.engine import TestEngine
from stepwell.testing.sync import SyncTestEngine

MARKER = "stepwell_app"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        MARKER,
        "the Stepwell app the stepwell_engine fixture runs when a test has no "
        "stepwell_app marker (module:attribute)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(app, **options): the stepwell.App (or 'module:attribute') the "
        "stepwell_engine fixture runs; options are passed to stepwell.testing.TestEngine",
    )


def resolve_app(target: App | str) -> App:
    """An ``App``, or ``"package.module:attribute"`` naming one."""
    if isinstance(target, App):
        return target
    if not isinstance(target, str) or ":" not in target:
        raise pytest.UsageError(
            f"{MARKER} takes a stepwell.App or 'module:attribute', not {target!r}"
        )
    module_name, _, attribute = target.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    if not isinstance(value, App):
        raise pytest.UsageError(f"{target!r} is a {type(value).__name__}, not a stepwell.App")
    return value


@pytest.fixture
def stepwell_engine(request: pytest.FixtureRequest) -> Iterator[TestEngine | SyncTestEngine]:
    """A running ``TestEngine`` (async tests) or ``SyncTestEngine`` (plain ``def`` tests)
    for the app the ``stepwell_app`` marker (or the ``stepwell_app`` ini option) names."""
    marker = request.node.get_closest_marker(MARKER)
    options: dict[str, Any] = {}
    if marker is not None:
        if len(marker.args) != 1:
            raise pytest.UsageError(f"{MARKER} takes one app: {MARKER}(app, **options)")
        target: App | str = marker.args[0]
        options = dict(marker.kwargs)
    else:
        configured = str(request.config.getini(MARKER) or "")
        if not configured:
            raise pytest.UsageError(
                "the stepwell_engine fixture needs an app: mark the test with "
                f"@pytest.mark.{MARKER}(app) or set {MARKER} = 'module:attribute' in the "
                "pytest configuration"
            )
        target = configured
    engine = TestEngine(resolve_app(target), **options)
    with SyncTestEngine(engine) as sync_engine:  # on its own thread, for either kind of test
        is_async = inspect.iscoroutinefunction(getattr(request, "function", None))
        yield engine if is_async else sync_engine
