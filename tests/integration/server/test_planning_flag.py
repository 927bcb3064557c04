"""The planning flag (``ctx.disable_immediate_execution``) when a wait ends as it is stored.

Inngest keeps a run planning (its ForceStepPlan) once a reply carried several ops, through the
end of whatever was waited on, until a discovery after a step's result (protocol.md §5.6). Two
of our waits can end in the commit that stores them, and must keep the flag as their usual
ending does:

* an invoke of a function that does not exist fails at once (Inngest ends it through the
  pause, with the ``function.finished`` its runner emits for an unknown target);
* a ``waitForSignal`` with ``conflict: "replace"`` ends a sibling wait on the same signal, from
  the same reply, at once as a timeout (Inngest's replaced wait times out).

A fake SDK app answers as the TypeScript SDK does (§5.7): a parallel group is reported as
planned and async ops, a lone new step runs inline unless the call says to plan. Each test
reads back every call the server made: its ``stepId`` and its flag.
"""

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
    step_run,
)

A, B = step_hash("a"), step_hash("b")
NAMES = {A: "a", B: "b"}


def planned(step_id: str) -> dict[str, Any]:
    return {"op": "StepPlanned", "id": step_hash(step_id), "name": step_id, "opts": None}


def invoke_missing() -> dict[str, Any]:
    opts = {"function_id": "flag-missing", "payload": {"data": {}}}
    return {"op": "InvokeFunction", "id": step_hash("inv"), "name": "inv", "opts": opts}


def wait_for_signal(step_id: str, signal: str, **opts: str) -> dict[str, Any]:
    return {
        "op": "WaitForSignal",
        "id": step_hash(step_id),
        "name": signal,
        "displayName": step_id,
        "opts": {"signal": signal, **opts},
    }


class GroupThenB:
    """``Promise.all(group)``, then ``step.run("b")``; returns the memo of every step."""

    def __init__(self, *group: dict[str, Any]) -> None:
        self.group = group

    def __call__(self, body: dict[str, Any], step: str) -> Reply:
        memo = body["steps"]
        if step in NAMES:  # a planned step's own call
            return ops(step_run(NAMES[step], NAMES[step].upper()))
        pending = [op for op in self.group if op["id"] not in memo]
        if pending:
            return ops(*pending)
        if B not in memo:
            if body["ctx"]["disable_immediate_execution"]:
                return ops(planned("b"))
            return ops(step_run("b", "B"))
        return Reply(200, memo)


async def calls_of_a_run(server: Server, handler: GroupThenB) -> tuple[dict[str, Any], list[Any]]:
    """Run the function to its end: its memo, and each call's (step, flag). Every span of the
    run has ended by then (a wait's WAITING span included)."""
    sdk = FakeSdk("flag", [FakeFunction("fn", [{"event": "flag/go"}], step_handler=handler)])
    async with running_sdk(sdk, server.url):
        assert (await sdk.sync())["ok"] is True
        [event] = await server.send({"name": "flag/go", "data": {}})
        [run_id] = await server.runs_of(event)
        await server.wait_for_status(run_id, "Completed")
        run = (await server.client.get(f"/v1/runs/{run_id}")).json()["data"]
        spans = await server.runtime.engine.store.run_trace(run_id)
    open_spans = [(s.name, s.status.value) for s in spans if s.ended_at is None]
    assert open_spans == [], open_spans
    seen = [
        (NAMES.get(call.step_id, call.step_id), call.body["ctx"]["disable_immediate_execution"])
        for call in sdk.calls_of("fn")
    ]
    output: dict[str, Any] = run["output"]
    return output, seen


# A group, then the step after it, as Inngest calls: discovery; the planned step "a" on its own
# call; discovery still planning (the group was parallel work), so "b" comes back planned; "b"
# on its own call; discovery, no longer planning, and the function returns.
PLANNING_ON = [("step", False), ("a", True), ("step", True), ("b", True), ("step", False)]


async def test_an_invoke_of_a_missing_function_beside_a_step_keeps_planning(
    server: Server,
) -> None:
    memo, seen = await calls_of_a_run(server, GroupThenB(planned("a"), invoke_missing()))
    assert seen == PLANNING_ON
    error = memo[step_hash("inv")]["error"]
    assert error["message"] == "could not find function with ID: flag-missing", error
    assert memo[B] == {"data": "B"}


async def test_an_invoke_of_a_missing_function_alone_does_not_plan(server: Server) -> None:
    memo, seen = await calls_of_a_run(server, GroupThenB(invoke_missing()))
    # One op is no parallel work: "b" runs inline on the discovery after the failed invoke.
    assert seen == [("step", False), ("step", False), ("step", False)]
    assert "error" in memo[step_hash("inv")]
    assert memo[B] == {"data": "B"}


async def test_a_signal_wait_replacing_its_sibling_keeps_planning(server: Server) -> None:
    first = wait_for_signal("first", "flag/sig", timeout="1m")
    second = wait_for_signal("second", "flag/sig", timeout="1s", conflict="replace")
    memo, seen = await calls_of_a_run(server, GroupThenB(first, second))
    # The first wait ends as "second" is stored: discovery, planning, reports "second" again;
    # it times out: discovery, still planning, so "b" comes back planned.
    assert seen == [("step", False), ("step", True), ("step", True), ("b", True), ("step", False)]
    assert memo[step_hash("first")] is None
    assert memo[step_hash("second")] is None
    assert memo[B] == {"data": "B"}
