"""protocol.md §10 against a real app on the official Python SDK (inngest 0.5.19, FastAPI).

The app (``apps/py_fastapi_app.py``) and ``stepwell dev`` run as processes on free loopback
ports; the scenarios themselves are in ``scenarios.py``, shared with the TypeScript SDK.
"""

from __future__ import annotations

import pytest

from tests.e2e.harness import Stack, requires_server
from tests.e2e.scenarios import OfficialSdkScenarios

pytestmark = [requires_server]


@pytest.fixture(scope="module")
def stack(py_stack: Stack) -> Stack:
    return py_stack


class TestPythonSdk(OfficialSdkScenarios):
    """Every scenario, with the Python SDK's app."""
