"""protocol.md §10 against a real app on the official TypeScript SDK (inngest 4.24.0, node:http).

The app (``apps/ts/app.mjs``, dependencies pinned by ``apps/ts/package-lock.json`` and installed
with ``npm ci`` on first use) and ``stepwell dev`` run as processes on free loopback ports; the
scenarios themselves are in ``scenarios.py``, shared with the Python SDK. Without node the
module is skipped locally, and fails in CI (``CI=true``).
"""

from __future__ import annotations

import pytest

from tests.e2e.harness import Stack, as_list, as_obj, requires_server
from tests.e2e.scenarios import OfficialSdkScenarios

# The first test's setup may include `npm ci`: more than the suite's default timeout.
pytestmark = [requires_server, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def stack(ts_stack: Stack) -> Stack:
    return ts_stack


class TestTypeScriptSdk(OfficialSdkScenarios):
    """Every scenario, with the TypeScript SDK's app; plus what only TS does."""

    def test_invoke_only_function_registers_no_trigger(self, stack: Stack) -> None:
        # TS functions without triggers can only be invoked: they sync with `triggers: []`.
        functions = {
            as_obj(fn).get("slug"): as_obj(fn)
            for fn in as_list(stack.server.dev_info().get("functions"))
        }
        for slug in ("myapp-invoke-child", "myapp-slow-child"):
            assert not functions[slug].get("triggers"), functions[slug]
