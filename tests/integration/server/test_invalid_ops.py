"""Ops the engine cannot act on fail the run with a clear error instead of retrying forever;
an empty sleep (TS ``step.sleep(id, 0)``) is no wait."""

from __future__ import annotations

from typing import Any

from tests.integration.server.harness import (
    FakeFunction,
    FakeSdk,
    Reply,
    Server,
    ops,
    running_sdk,
    step_hash,
)

NAP = step_hash("nap")


def sleeper(duration: str) -> Any:
    def handle(body: dict[str, Any]) -> Reply:
        if NAP not in body["steps"]:
            return ops(
                {"op": "Sleep", "id": NAP, "name": duration, "displayName": "nap", "opts": {}}
            )
        return Reply(200, "woke")

    return handle


async def test_empty_sleep_wakes_at_once_and_garbage_fails_the_run(server: Server) -> None:
    sdk = FakeSdk(
        "ops",
        [
            FakeFunction("zero", [{"event": "ops/zero"}], sleeper("")),
            FakeFunction("soon", [{"event": "ops/soon"}], sleeper("soon")),
        ],
    )
    async with running_sdk(sdk, server.url):
        assert (await sdk.sync())["ok"] is True
        [zero] = await server.send({"name": "ops/zero", "data": {}})
        [soon] = await server.send({"name": "ops/soon", "data": {}})
        [zero_run] = await server.runs_of(zero)
        [soon_run] = await server.runs_of(soon)
        await server.wait_for_status(zero_run, "Completed")
        await server.wait_for_status(soon_run, "Failed")
        failed = (await server.client.get(f"/v1/runs/{soon_run}")).json()["data"]
    assert failed["output"]["name"] == "InvalidOpError"
    assert "invalid Sleep op" in failed["output"]["message"]
