"""Issue 12, seen from a middleware of the official TypeScript SDK (inngest 4.24.0).

The app (``apps/ts/issue12_app.mjs``) records, per request the server makes, which middleware
hooks ran and what ``isFinalAttempt`` told the error hooks. Checked against what Inngest does:

1. an error the function throws after it caught a ``StepError`` is retried like any other:
   ``onRunError`` sees ``isFinalAttempt`` false, then (on the last attempt) true;
2. ``Promise.all`` of a step and a sleep, then a step: Inngest's five requests (discovery, the
   targeted step, discovery after the sleep with steps still planned, the targeted step after
   it, the last discovery), each with the hooks Inngest's requests give;
3. a run shown waiting for an event has its wait stored: the event sent as soon as the API shows
   the wait always resumes it;
4. ``Promise.all`` of a step and a wait for an event, then a step: the same five requests
   whether an event ends the wait or its timeout does (the run plans on after the wait);
5. the same five with an invoke of a function that does not exist beside the step (the
   invoke fails at once; Inngest ends it through its pause, and plans on after it);
6. ``Promise.all`` of two waits for one signal, the second replacing the first (which ends at
   once), then a step: the run plans on after both waits, as after any wait.

The app and ``stepwell dev`` run as their own processes on loopback.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from tests.e2e.harness import (
    Stack,
    as_list,
    as_obj,
    as_str,
    nonce,
    sha1,
    start_stack,
    ts_app,
    wait_until,
)

pytestmark = [pytest.mark.timeout(300)]


ISSUE12 = ts_app("issue12_app.mjs")


@pytest.fixture(scope="module")
def stack(ts_app_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    slugs = (
        "i12app-caught-then-throw",
        "i12app-parallel-sleep",
        "i12app-parallel-wait",
        "i12app-parallel-invoke-missing",
        "i12app-parallel-signals",
        "i12app-waiter",
    )
    with start_stack(ISSUE12, tmp_path_factory.mktemp("e2e-ts-i12"), slugs) as running:
        yield running


@dataclasses.dataclass(frozen=True)
class Request:
    """One request the server made to the app, as its middleware saw it."""

    step_id: str | None
    attempt: int | None
    hooks: list[str]
    plan: bool | None  # ctx.disable_immediate_execution


def _requests(stack: Stack, run_id: str) -> list[Request]:
    response = stack.app.http.get(f"{stack.app.origin}/e2e/requests")
    assert response.status_code == 200, response.text
    found = []
    for item in as_list(as_obj(response.json()).get("requests"), "requests"):
        raw = as_obj(item, "request")
        if raw.get("run_id") != run_id:
            continue
        attempt, step_id, plan = raw.get("attempt"), raw.get("step_id"), raw.get("plan")
        assert attempt is None or isinstance(attempt, int), raw
        assert plan is None or isinstance(plan, bool), raw
        found.append(
            Request(
                step_id=None if step_id is None else as_str(step_id),
                attempt=attempt,
                hooks=[as_str(hook) for hook in as_list(raw.get("hooks"), "hooks")],
                plan=plan,
            )
        )
    return found


def test_an_error_after_a_caught_step_error_is_retried(stack: Stack) -> None:
    server = stack.server
    run = server.wait_for_run(server.send_one("i12/caught", {"nonce": nonce()}))
    assert run.status == "Failed", run
    assert as_obj(run.output).get("message") == "after the caught step error", run.output
    requests = _requests(stack, run.run_id)
    seen = [
        (request.attempt, [h for h in request.hooks if h.startswith("on") and "Error" in h])
        for request in requests
    ]
    # The step: tried on attempts 0 and 1 (retries: 1), final on 1. Then the function's own
    # error counts its attempts afresh: not final on attempt 0, final on attempt 1.
    assert seen == [
        (0, ["onStepError:always fails:retry"]),
        (1, ["onStepError:always fails:final"]),
        (0, ["onRunError:retry"]),
        (1, ["onRunError:final"]),
    ], requests


TRACE = """query($runId: String!) {
  run(runID: $runId) { status trace(preview: true) { childrenSpans { name status stepOp } } }
}"""


def _shows_the_wait(stack: Stack, run_id: str, name: str = "wait for go") -> bool:
    body = {"query": TRACE, "variables": {"runId": run_id}}
    response = stack.server.http.post("/v0/gql", json=body)
    assert response.status_code == 200, response.text[:2000]
    run = as_obj(as_obj(as_obj(response.json()).get("data")).get("run"))
    trace = run.get("trace")
    spans = [] if trace is None else as_list(as_obj(trace).get("childrenSpans"))
    return any(
        as_obj(span).get("name") == name and as_obj(span).get("status") == "WAITING"
        for span in spans
    )


def test_an_event_sent_as_soon_as_the_wait_shows_always_resumes_it(stack: Stack) -> None:
    server = stack.server
    for _ in range(8):
        n = nonce()
        started = server.wait_for_run_started(server.send_one("i12/wait", {"nonce": n}))
        run_id = started.run_id

        def waiting(run_id: str = run_id) -> bool:
            return _shows_the_wait(stack, run_id)

        wait_until(
            waiting,
            timeout=30,
            what=f"run {started.run_id} to show its wait",
            interval=0.005,
        )
        server.send_one("i12/go", {"nonce": n})
        run = server.wait_for_run_end(started.run_id)
        assert run.status == "Completed", run
        assert run.output == {"got": {"nonce": n}}, run.output


def test_parallel_step_and_sleep_then_a_step_make_inngest_s_five_requests(stack: Stack) -> None:
    server = stack.server
    run = server.wait_for_run(server.send_one("i12/parallel", {"nonce": nonce()}))
    assert run.status == "Completed", run
    assert run.output == {"a": "A", "b": "B"}
    a, b = sha1("a"), sha1("b")
    seen = [(request.step_id, request.hooks) for request in _requests(stack, run.run_id)]
    start = ["wrapRequest", "transformFunctionInput", "onMemoizationEnd"]
    assert seen == [
        # Discovery: the step and the sleep are planned together.
        ("step", [*start, "onRunStart"]),
        # The planned step, on its own request (the SDK sees no memo yet: a "run start").
        (a, [*start, "onRunStart", "onStepStart:a", "onStepComplete:a"]),
        # The sleep ended: discovery, still planning (the sleep was parallel work), so the
        # next step comes back planned rather than run...
        ("step", start),
        # ...and runs on a request of its own,
        (b, [*start, "onStepStart:b", "onStepComplete:b"]),
        # after which discovery no longer plans: the function returns.
        ("step", [*start, "onRunComplete"]),
    ], seen


FIVE_REQUESTS = [
    # Discovery: the step and the wait are planned together; the planned step on its own
    # request; the wait ends: discovery, still planning, so the next step comes back planned;
    # it runs on its own request; then discovery no longer plans and the function returns.
    ("step", ["onRunStart"]),
    ("a", ["onRunStart", "onStepStart:a", "onStepComplete:a"]),
    ("step", []),
    ("b", ["onStepStart:b", "onStepComplete:b"]),
    ("step", ["onRunComplete"]),
]


def _seen(stack: Stack, run_id: str) -> list[tuple[str | None, list[str]]]:
    start = ["wrapRequest", "transformFunctionInput", "onMemoizationEnd"]
    seen = []
    for request in _requests(stack, run_id):
        assert request.hooks[:3] == start, request
        seen.append((request.step_id, request.hooks[3:]))
    return seen


def _expected() -> list[tuple[str | None, list[str]]]:
    ids = {"a": sha1("a"), "b": sha1("b")}
    return [(ids.get(step, step), hooks) for step, hooks in FIVE_REQUESTS]


@pytest.mark.parametrize("ending", ["event", "timeout"])
def test_parallel_step_and_wait_then_a_step_make_five_requests(stack: Stack, ending: str) -> None:
    server = stack.server
    n = nonce()
    data: dict[str, object] = {"nonce": n}
    if ending == "timeout":
        data["timeout"] = "2s"
    run_id = server.wait_for_run_started(server.send_one("i12/pwait", data)).run_id
    if ending == "event":

        def step_a_done_and_waiting() -> bool:
            done = any("onStepComplete:a" in r.hooks for r in _requests(stack, run_id))
            return done and _shows_the_wait(stack, run_id, "go")

        wait_until(step_a_done_and_waiting, timeout=30, what=f"run {run_id} to wait, a done")
        server.send_one("i12/pgo", {"nonce": n})
    run = server.wait_for_run_end(run_id)
    assert run.status == "Completed", run
    got = {"nonce": n} if ending == "event" else None
    assert run.output == {"a": "A", "b": "B", "got": got}, run.output
    assert _seen(stack, run_id) == _expected()


def _plans(stack: Stack, run_id: str) -> list[tuple[str | None, bool | None]]:
    """Each request's step and whether it asked the SDK to plan."""
    return [(request.step_id, request.plan) for request in _requests(stack, run_id)]


def test_parallel_step_and_invoke_of_a_missing_function_make_five_requests(stack: Stack) -> None:
    server = stack.server
    run = server.wait_for_run(server.send_one("i12/pinvoke", {"nonce": nonce()}))
    assert run.status == "Completed", run
    missing = "could not find function with ID: i12app-does-not-exist"
    assert run.output == {"a": "A", "b": "B", "invoked": missing}, run.output
    assert _seen(stack, run.run_id) == _expected()
    a, b = sha1("a"), sha1("b")
    plans = [("step", False), (a, True), ("step", True), (b, True), ("step", False)]
    assert _plans(stack, run.run_id) == plans


def test_a_signal_wait_replacing_its_sibling_keeps_the_run_planning(stack: Stack) -> None:
    server = stack.server
    run = server.wait_for_run(server.send_one("i12/psignals", {"nonce": nonce()}))
    assert run.status == "Completed", run
    assert run.output == {"b": "B", "first": None, "second": None}, run.output
    assert _seen(stack, run.run_id) == [
        # Discovery: both waits; the first ends as the second replaces it.
        ("step", ["onRunStart"]),
        # Discovery, still planning: the second wait is reported again.
        ("step", []),
        # It times out: discovery, still planning, so the step comes back planned,
        ("step", []),
        # runs on its own request, and discovery no longer plans: the function returns.
        (sha1("b"), ["onStepStart:b", "onStepComplete:b"]),
        ("step", ["onRunComplete"]),
    ]
    # The hooks of the second request are the same either way: its flag shows it planning.
    plans = [("step", False), ("step", True), ("step", True), (sha1("b"), True), ("step", False)]
    assert _plans(stack, run.run_id) == plans
