"""Deferred runs at the wire level (the TS SDK's ``defer()``: ``DeferAdd``/``DeferAbort`` lazy
ops), on each backend: a fake app sends the ops as inngest-js 4.24.0 does, riding along with
the op that moves the run on. Children start when the parent ends (any end), with the
defer's input and ``_inngest`` naming the target and parent; aborted and refused defers start
nothing; the limits (20 per run, 4 MiB per input and in all) never fail the parent."""

from __future__ import annotations

from typing import Any

from stepwell.core.defers import MAX_DEFER_INPUT_BYTES, MAX_DEFERS_PER_RUN
from tests.integration.server.harness import (
    Call,
    FakeFunction,
    FakeSdk,
    Reply,
    Server,
    ops,
    running_sdk,
    step_hash,
    step_run,
)
from tests.waiting import eventually

CHILD_SLUG = "deferring-child"
CHILD_TRIGGER = {
    "event": "inngest/deferred.schedule",
    "expression": f"event.data._inngest.fn_slug == '{CHILD_SLUG}'",
}
WORK = step_hash("work")


def defer_add(user_id: str, data: Any, slug: str = CHILD_SLUG) -> dict[str, Any]:
    return {
        "op": "DeferAdd",
        "id": step_hash(user_id),
        "name": user_id,
        "displayName": user_id,
        "opts": {"fn_slug": slug, "input": data},
        "data": None,
        "userland": {"id": user_id},
    }


def defer_abort(user_id: str) -> dict[str, Any]:
    target = step_hash(user_id)
    abort_id = f"{target}:abort"
    return {
        "op": "DeferAbort",
        "id": step_hash(abort_id),
        "name": user_id,
        "displayName": user_id,
        "opts": {"target_hashed_id": target, "fn_slug": CHILD_SLUG, "id": user_id},
        "data": None,
    }


def parent(body: dict[str, Any]) -> Reply:
    """Defers in a step's answer (kept, aborted, refused), then more with its return."""
    steps, data = body["steps"], body["event"]["data"]
    known = set(body.get("defers") or {})
    if WORK not in steps:
        lazy = [defer_add("keep", {"n": 1, "tag": data["tag"]}), defer_add("drop", {"n": 2})]
        lazy.append(defer_add("huge", {"blob": "x" * (MAX_DEFER_INPUT_BYTES + 1)}))
        lazy.append(defer_add("not-an-object", [1, 2]))
        return ops(step_run("work", "done"), *lazy)
    # What an SDK replaying the run would not send again: those in "defers".
    lazy = [d for d in (defer_abort("drop"),) if step_hash("drop") in known]
    lazy += [defer_add(f"more-{i}", {"i": i}) for i in range(MAX_DEFERS_PER_RUN + 3)]
    end = {"op": "RunComplete", "id": step_hash("complete"), "data": {"ok": True}}
    if data.get("fail"):
        error = {"name": "Error", "message": "parent broke", "stack": ""}
        end = {"op": "StepFailed", "id": step_hash("complete"), "error": error}
    return ops(*lazy, end)


def child(body: dict[str, Any]) -> Reply:
    return Reply(200, body["event"]["data"])


def sdk() -> FakeSdk:
    return FakeSdk(
        "deferring",
        [
            FakeFunction("parent", [{"event": "defer/parent"}], parent),
            FakeFunction("child", [CHILD_TRIGGER], child),
        ],
    )


def child_calls(app: FakeSdk, parent_run: str) -> list[Call]:
    return [
        call
        for call in app.calls_of("child")
        if call.body["event"]["data"]["_inngest"]["parent_run_id"] == parent_run
    ]


async def _parent_run(server: Server, app: FakeSdk, data: dict[str, Any]) -> str:
    [event_id] = await server.send({"name": "defer/parent", "data": data})
    [run_id] = await server.runs_of(event_id)
    return run_id


async def test_children_start_when_the_parent_completes(server: Server) -> None:
    async with running_sdk(sdk(), server.url) as app:
        assert (await app.sync())["ok"] is True
        run_id = await _parent_run(server, app, {"tag": "t1"})
        await server.wait_for_status(run_id, "Completed")
        # "keep" and the first 18 "more-i" fit in 20 with "drop", "huge" and "not-an-object"
        # recorded (aborted, refused); the rest were dropped.
        expected = 1 + (MAX_DEFERS_PER_RUN - 4)

        async def all_started() -> bool:
            return len(child_calls(app, run_id)) >= expected

        await eventually(all_started, timeout=15.0, what="the deferred children")
        calls = child_calls(app, run_id)
        inputs = sorted(
            (c.body["event"]["data"] for c in calls if c.step_id == "step"),
            key=lambda d: str(d.get("i", -1)),
        )
        keep = next(d for d in inputs if d.get("tag") == "t1")
        assert keep["n"] == 1
        assert keep["_inngest"] == {
            "fn_slug": CHILD_SLUG,
            "parent_fn_slug": "deferring-parent",
            "parent_run_id": run_id,
            "hashed_defer_id": step_hash("keep"),
        }
        assert calls[0].body["event"]["name"] == "inngest/deferred.schedule"
        started = {d.get("i") for d in inputs if "i" in d}
        assert started == set(range(MAX_DEFERS_PER_RUN - 4))
        assert not any(d.get("n") == 2 for d in inputs)  # aborted
        # The second request told the SDK which defers were recorded, and which may abort.
        second = app.calls_of("parent")[1].body["defers"]
        assert second[step_hash("keep")] == {"abortable": True}
        assert second[step_hash("huge")] == {"abortable": False}
        assert second[step_hash("not-an-object")] == {"abortable": False}
        for call in calls:
            child_run = call.body["ctx"]["run_id"]
            await server.wait_for_status(child_run, "Completed")
        assert len(child_calls(app, run_id)) == expected  # and never twice


async def test_children_start_when_the_parent_fails(server: Server) -> None:
    async with running_sdk(sdk(), server.url) as app:
        assert (await app.sync())["ok"] is True
        run_id = await _parent_run(server, app, {"tag": "t2", "fail": True})
        await server.wait_for_status(run_id, "Failed")
        failed = (await server.client.get(f"/v1/runs/{run_id}")).json()["data"]
        assert failed["output"]["message"] == "parent broke"

        async def started() -> bool:
            return any(c.body["event"]["data"].get("tag") == "t2" for c in child_calls(app, run_id))

        await eventually(started, timeout=15.0, what="the failed parent's deferred child")
