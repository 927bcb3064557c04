"""Fixtures for the end-to-end tests: real processes, loopback only.

``py_stack`` / ``ts_stack`` (one per test module): an app on the official Python / TypeScript
SDK as its own process, and ``stepwell dev`` as another, syncing it. The TS app's dependencies
are installed once per session with ``npm ci`` (from its lockfile) when they are missing.
``stand_in`` (one per module): a loopback HTTP server for the calls the server itself makes for
a function (step.ai.infer, step.fetch) to land on.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

import pytest

from tests.e2e.harness import (
    PY,
    TS,
    Stack,
    StandIn,
    install_ts_app,
    node_problem,
    stand_in_server,
    start_stack,
)
from tests.e2e.scenarios import function_slugs


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def node_toolchain() -> None:
    """Node and npm for the TS app: skipped without them locally, a failure in CI."""
    problem = node_problem()
    if problem is None:
        return
    if _in_ci():
        pytest.fail(f"{problem}; CI must run the TypeScript SDK tests", pytrace=False)
    pytest.skip(problem)


@pytest.fixture(scope="session")
def ts_app_installed(node_toolchain: None) -> None:
    """The TS app's node_modules, installed from package-lock.json when missing."""
    install_ts_app()


@pytest.fixture(scope="module")
def py_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(PY, tmp_path_factory.mktemp("e2e-py"), function_slugs(PY)) as stack:
        yield stack


@pytest.fixture(scope="module")
def ts_stack(ts_app_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(TS, tmp_path_factory.mktemp("e2e-ts"), function_slugs(TS)) as stack:
        yield stack


@pytest.fixture(scope="module")
def stand_in() -> Iterator[StandIn]:
    """A loopback HTTP server standing in for a model provider and an outside endpoint."""
    with stand_in_server() as server:
        yield server


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, show the tails of the server's and the app's logs with the report."""
    report = yield
    if report.failed and isinstance(item, pytest.Function):
        stack = item.funcargs.get("stack")
        if isinstance(stack, Stack):
            report.sections.append(("stepwell dev and app logs", stack.diagnostics()))
    return report
