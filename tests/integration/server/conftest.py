"""A dev server and a synced demo app (``shop``) for the server tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.integration.server.harness import (
    FakeFunction,
    FakeSdk,
    Reply,
    Server,
    ops,
    running_sdk,
    running_server,
    step_hash,
    step_run,
)

FIRST, SECOND = step_hash("first step"), step_hash("second step")
BROKEN, WAIT, SIGNAL = step_hash("broken"), step_hash("wait"), step_hash("signal")


def hello(body: dict[str, Any]) -> Reply:
    """Returns at once (§10 scenario 3)."""
    return Reply(200, {"name": body["event"]["name"], "body": "ok"})


def two_steps(body: dict[str, Any]) -> Reply:
    """``step.run("first step")`` then ``step.run("second step")``, then returns both."""
    steps = body["steps"]
    if FIRST not in steps:
        return ops(step_run("first step", "one"))
    if SECOND not in steps:
        return ops(step_run("second step", steps[FIRST]["data"] + "+two"))
    return Reply(200, [steps[FIRST]["data"], steps[SECOND]["data"]])


def fails(body: dict[str, Any]) -> Reply:
    """A step fails for good; the function does not catch it (§10 scenario 6)."""
    error = {"name": "ValueError", "message": "broken step", "stack": "Traceback: line 1"}
    if BROKEN not in body["steps"]:
        return ops(
            {"op": "StepFailed", "id": BROKEN, "name": "broken", "displayName": "broken"}
            | {"error": error, "opts": None, "data": None}
        )
    return Reply(
        500,
        {"code": "step_errored", "name": "StepError", "message": "broken step"},
        {"X-Inngest-No-Retry": "true"},
    )


def flaky(body: dict[str, Any]) -> Reply:
    """``step.run("first step")`` fails on its first attempt only (§10 scenario 5)."""
    steps = body["steps"]
    if FIRST in steps:
        return Reply(200, steps[FIRST]["data"])
    if body["ctx"]["attempt"] == 0:
        error = {"name": "Error", "message": "not yet", "stack": ""}
        return ops({"op": "StepError", "id": FIRST, "name": "first step", "error": error})
    return ops(step_run("first step", "second time lucky"))


def waits(body: dict[str, Any]) -> Reply:
    """Waits an hour for an event nobody sends: the run stays Running."""
    if WAIT not in body["steps"]:
        wait = {"op": "WaitForEvent", "id": WAIT, "name": "shop/never", "displayName": "wait"}
        return ops(wait | {"opts": {"timeout": "1h"}})
    return Reply(200, "resumed")


def signalled(body: dict[str, Any]) -> Reply:
    """Waits for the signal named in its event, then returns what the signal carried."""
    steps = body["steps"]
    if SIGNAL not in steps:
        name = body["event"]["data"]["signal"]
        wait = {"op": "WaitForSignal", "id": SIGNAL, "name": name, "displayName": "signal"}
        return ops(wait | {"opts": {"signal": name, "timeout": "1m"}})
    return Reply(200, steps[SIGNAL]["data"])


def shop_functions() -> list[FakeFunction]:
    return [
        FakeFunction("hello", [{"event": "shop/hello"}], hello, name="Hello"),
        FakeFunction("steps", [{"event": "shop/steps"}], two_steps, name="Two steps"),
        FakeFunction("fails", [{"event": "shop/fails"}], fails, name="Fails"),
        FakeFunction("flaky", [{"event": "shop/flaky"}], flaky, name="Flaky", retries=2),
        FakeFunction("waits", [{"event": "shop/waits"}], waits, name="Waits"),
        FakeFunction("signalled", [{"event": "shop/signalled"}], signalled, name="Signalled"),
    ]


@pytest.fixture
async def server(db_url: str) -> AsyncIterator[Server]:
    async with running_server(db_url) as running:
        yield running


@pytest.fixture
async def shop(server: Server) -> AsyncIterator[FakeSdk]:
    """The demo app, synced into ``server``."""
    async with running_sdk(FakeSdk("shop", shop_functions()), server.url) as sdk:
        reply = await sdk.sync()
        assert reply["ok"] is True, reply
        yield sdk
