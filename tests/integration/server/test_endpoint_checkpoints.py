"""A durable endpoint's checkpoints that report steps and the result in one request (the
store ends runs before it stores steps: both must still be kept); on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from stepwell.core.ids import new_ulid
from tests.integration.server.harness import Server, step_hash, step_run

EVENT = {
    "name": "inngest/http.request",
    "data": {"domain": "http://127.0.0.1:9", "path": "/together", "method": "GET"},
}


def _complete(output: Any) -> dict[str, Any]:
    return {"op": "RunComplete", "id": step_hash("complete"), "data": output}


async def _run(server: Server, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] = (await server.client.get(f"/v1/runs/{run_id}")).json()["data"]
    return run


async def _steps(server: Server, run_id: str) -> set[str]:
    return set(await server.runtime.engine.store.load_memo(run_id))


@pytest.mark.parametrize("where", ["start", "later"])
async def test_steps_beside_the_result_are_stored_and_the_run_completes(
    server: Server, where: str
) -> None:
    run_id = new_ulid()
    one, two = step_run("one", 1), step_run("two", 2)
    if where == "start":
        steps = [one, two, _complete({"ok": 1})]
        body = {"run_id": run_id, "event": EVENT, "steps": steps}
        answer = await server.client.post("/v1/checkpoint", json=body)
    else:
        body = {"run_id": run_id, "event": EVENT, "steps": [one]}
        started = await server.client.post("/v1/checkpoint", json=body)
        assert started.status_code == 200, started.text
        answer = await server.client.post(
            f"/v1/checkpoint/{run_id}/steps", json={"steps": [two, _complete({"ok": 1})]}
        )
    assert answer.status_code == 200, answer.text
    run = await _run(server, run_id)
    assert (run["status"], run["output"]) == ("Completed", {"ok": 1})
    assert await _steps(server, run_id) == {step_hash("one"), step_hash("two")}
    # Once ended, more steps are refused with a 4xx naming why, and nothing changes.
    late = await server.client.post(
        f"/v1/checkpoint/{run_id}/steps", json={"steps": [step_run("three", 3)]}
    )
    assert late.status_code == 409, late.text
    assert "has ended" in late.text
    assert await _steps(server, run_id) == {step_hash("one"), step_hash("two")}
