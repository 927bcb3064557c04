"""protocol.md §10 against an app on Stepwell's own SDK, served over HTTP with ``stepwell.serve``.

The app (``apps/stepwell_scenarios_app.py``) defines the functions of the official-SDK apps with
our SDK and runs under uvicorn as its own process; ``stepwell dev`` runs as another and syncs it,
exactly as for the official Python SDK. The scenarios are ``scenarios.py``'s, unchanged, except
where our SDK means to differ (overridden below, each saying why).

The official SDKs' answers are theirs to get right; ours are ours. So this module also checks
what our SDK answered on the wire in each scenario (status, ops, headers), as §10 spells it out,
from the app's ``GET /e2e/wire``.
"""

from __future__ import annotations

import dataclasses
import datetime
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepwell.sdk.serve.messages import SDK_NAME
from tests.e2e.harness import (
    APP_ID,
    APPS_DIR,
    LOOPBACK,
    Run,
    Sdk,
    Stack,
    as_list,
    as_obj,
    as_str,
    nonce,
    sha1,
    start_stack,
)
from tests.e2e.scenarios import (
    FAILURE_HANDLERS,
    OfficialSdkScenarios,
    function_ids,
    function_slugs,
)

STEPWELL_APP = APPS_DIR / "stepwell_scenarios_app.py"

# Functions only the app on our SDK has.
OUR_ONLY_FUNCTION_IDS = ("non-retriable-step",)


@dataclasses.dataclass(frozen=True)
class StepwellSdk(Sdk):
    """Our SDK as the scenarios see it: a Python app, started like the official PY one."""

    def command(self, port: int) -> list[str]:
        return [sys.executable, str(STEPWELL_APP), "--host", LOOPBACK, "--port", str(port)]

    def env(self, port: int) -> dict[str, str]:
        return {}

    @property
    def cwd(self) -> Path:
        return APPS_DIR


STEPWELL = StepwellSdk(
    name="stepwell",
    header=SDK_NAME,  # "stepwell-py:v<version>"
    thrown_error_name="ValueError",  # the exception's class name, as the Python SDK
    counts_failure_handlers=False,  # introspection counts user functions, as the Python SDK
)


def our_slugs() -> tuple[str, ...]:
    return function_slugs(STEPWELL) + tuple(f"{APP_ID}-{fn}" for fn in OUR_ONLY_FUNCTION_IDS)


@pytest.fixture(scope="module")
def stepwell_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(STEPWELL, tmp_path_factory.mktemp("e2e-stepwell"), our_slugs()) as stack:
        yield stack


@pytest.fixture(scope="module")
def stack(stepwell_stack: Stack) -> Stack:
    return stepwell_stack


# --------------------------------------------------------------------------------------------
# What our SDK answered


@dataclasses.dataclass(frozen=True)
class Answer:
    """One POST of the server to our SDK and the SDK's answer, from the app's ``/e2e/wire``."""

    step_id: str | None
    attempt: object
    plan_only: object  # ctx.disable_immediate_execution
    status: object
    no_retry: object  # X-Inngest-No-Retry of the answer
    retry_after: object  # Retry-After of the answer
    ops: list[dict[str, object]]  # a 206's ops

    @property
    def summary(self) -> tuple[object, object, object, list[tuple[object, object]]]:
        """``(stepId, attempt, status, [(op, id)])``: what most checks compare."""
        return (self.step_id, self.attempt, self.status, self.opcodes)

    @property
    def opcodes(self) -> list[tuple[object, object]]:
        return [(op.get("op"), op.get("id")) for op in self.ops]

    @property
    def op(self) -> dict[str, object]:
        [op] = self.ops
        return op


def answers(stack: Stack, run_id: str) -> list[Answer]:
    """Every call of ``run_id`` our SDK answered, in order."""
    response = stack.app.http.get(f"{stack.app.origin}/e2e/wire")
    assert response.status_code == 200, response.text
    found: list[Answer] = []
    for item in as_list(as_obj(response.json()).get("requests"), "requests"):
        call = as_obj(item, "request")
        if call.get("run_id") != run_id:
            continue
        step_id, ops = call.get("step_id"), call.get("ops")
        found.append(
            Answer(
                step_id=None if step_id is None else as_str(step_id),
                attempt=call.get("attempt"),
                plan_only=call.get("disable_immediate_execution"),
                status=call.get("status"),
                no_retry=call.get("no_retry"),
                retry_after=call.get("retry_after"),
                ops=[as_obj(op, "op") for op in as_list(ops)] if ops is not None else [],
            )
        )
    return found


def run_of(stack: Stack, fn: str, **data: object) -> Run:
    """Trigger ``e2e/<fn>`` with a fresh nonce and wait for its run to end."""
    server = stack.server
    return server.wait_for_run(server.send_one(f"e2e/{fn}", {"nonce": nonce(), **data}))


def checkpoints(stack: Stack, run_id: str) -> list[tuple[list[tuple[object, ...]], object]]:
    """Every checkpoint our SDK posted for ``run_id``: ``([(op, id, data)], status)``."""
    response = stack.app.http.get(f"{stack.app.origin}/e2e/wire")
    assert response.status_code == 200, response.text
    found: list[tuple[list[tuple[object, ...]], object]] = []
    for item in as_list(as_obj(response.json()).get("checkpoints"), "checkpoints"):
        posted = as_obj(item, "checkpoint")
        if posted.get("run_id") == run_id:
            steps = [tuple(as_list(step)) for step in as_list(posted.get("steps"))]
            found.append((steps, posted.get("status")))
    return found


DISCOVERY = "step"  # the stepId of a call that is not aimed at one step


class TestStepwellSdk(OfficialSdkScenarios):
    """Every scenario, with the app on our SDK; then what our SDK answered in each."""

    def test_introspection(self, stack: Stack) -> None:
        """Overridden: our app has ``OUR_ONLY_FUNCTION_IDS`` too, so one more function."""
        response = stack.app.introspect()
        assert response.status_code == 200
        assert response.headers["x-inngest-sdk"] == SDK_NAME
        body = as_obj(response.json())
        assert body["mode"] == "dev"
        assert body["schema_version"] == "2024-05-24"
        expected = len(function_ids(STEPWELL)) + len(OUR_ONLY_FUNCTION_IDS)
        assert body["function_count"] == expected - len(FAILURE_HANDLERS)

    # -- 4 --------------------------------------------------------------------------------------

    def test_wire_serial_steps_and_sleep(self, stack: Stack) -> None:
        """Checkpointing (the default): each step's result goes to the server's checkpoint
        route during the call, and the call answers only what the server must act on."""
        run = run_of(stack, "steps")
        assert run.status == "Completed"
        assert run.output == {"first": "first step", "second": "second step"}
        calls = answers(stack, run.run_id)
        assert [call.summary for call in calls] == [
            (DISCOVERY, 0, 206, [("Sleep", sha1("sleep"))]),
            (DISCOVERY, 0, 200, []),
        ]
        assert checkpoints(stack, run.run_id) == [
            ([("StepRun", sha1("first step"), "first step")], 200),
            ([("StepRun", sha1("second step"), "second step")], 200),
        ]
        sleep = calls[0].op
        assert sleep.get("name") == "2s"
        assert as_obj(sleep.get("opts")).get("duration") == "2s"

    # -- 5 --------------------------------------------------------------------------------------

    def test_wire_step_retry_then_success(self, stack: Stack) -> None:
        run = run_of(stack, "retry-step")
        assert run.status == "Completed"
        flaky = sha1("flaky")
        calls = answers(stack, run.run_id)
        assert [call.summary for call in calls] == [
            (DISCOVERY, 0, 206, [("StepError", flaky)]),
            (DISCOVERY, 1, 206, [("StepRun", flaky)]),
            (DISCOVERY, 0, 200, []),
        ]
        error = as_obj(calls[0].op.get("error"), "StepError error")
        assert (error.get("name"), error.get("message")) == (
            "ValueError",
            "flaky on the first attempt",
        )
        assert calls[0].no_retry is None

    def test_wire_function_retry_then_success(self, stack: Stack) -> None:
        run = run_of(stack, "retry-fn")
        assert run.status == "Completed"
        calls = answers(stack, run.run_id)
        assert [call.summary for call in calls] == [
            (DISCOVERY, 0, 500, []),
            (DISCOVERY, 1, 200, []),
        ]
        assert calls[0].no_retry is None

    # -- 6, and a NonRetriableError inside a step -----------------------------------------------

    def test_wire_step_exhausting_its_retries(self, stack: Stack) -> None:
        run = run_of(stack, "exhaust")
        assert run.status == "Failed"
        step = sha1("always fails")
        calls = answers(stack, run.run_id)
        assert [call.summary for call in calls] == [
            (DISCOVERY, 0, 206, [("StepError", step)]),
            (DISCOVERY, 1, 206, [("StepFailed", step)]),
            (DISCOVERY, 0, 500, []),
        ]
        assert calls[-1].no_retry == "true"

    def test_non_retriable_error_in_a_step_fails_the_step_at_once(self, stack: Stack) -> None:
        """Ours only. The official Python SDK (0.5.19) lets a ``NonRetriableError`` raised in a
        step's body escape as a function-level error; ours, as the TypeScript SDK, fails the
        step for good (``StepFailed``) without retrying it, and hands the function a
        ``StepError`` it may catch. Uncaught, that fails the run, again without a retry."""
        server = stack.server
        run = run_of(stack, "non-retriable-step")
        assert run.status == "Failed"
        assert "step nope" in str(run.output)
        bodies = stack.app.notes("non-retriable-step", run_id=run.run_id, what="step:refuses")
        assert [note.attempt for note in bodies] == [0]

        calls = answers(stack, run.run_id)
        assert [call.summary for call in calls] == [
            (DISCOVERY, 0, 206, [("StepFailed", sha1("refuses"))]),
            (DISCOVERY, 0, 500, []),
        ]
        error = as_obj(calls[0].op.get("error"), "StepFailed error")
        assert (error.get("name"), error.get("message")) == ("NonRetriableError", "step nope")
        assert calls[1].no_retry == "true"

        failed = server.wait_for_event(
            "inngest/function.failed", lambda event: event.data.get("run_id") == run.run_id
        )
        assert as_obj(failed.data.get("error")).get("message") == "step nope"

    # -- 8, 9 -----------------------------------------------------------------------------------

    def test_wire_non_retriable_error(self, stack: Stack) -> None:
        run = run_of(stack, "non-retriable")
        assert run.status == "Failed"
        [call] = answers(stack, run.run_id)
        assert call.summary == (DISCOVERY, 0, 500, [])
        assert call.no_retry == "true"

    def test_wire_retry_after_error(self, stack: Stack) -> None:
        before = datetime.datetime.now(datetime.UTC)
        run = run_of(stack, "retry-after")
        assert run.status == "Completed"
        first, second = answers(stack, run.run_id)
        assert (first.summary, second.summary) == (
            (DISCOVERY, 0, 500, []),
            (DISCOVERY, 1, 200, []),
        )
        # An instant, as the Python SDK writes it; 3 s after the function raised.
        retry_at = datetime.datetime.fromisoformat(as_str(first.retry_after).replace("Z", "+00:00"))
        assert retry_at - before >= datetime.timedelta(seconds=2.5), (before, retry_at)
        assert first.no_retry is None

    # -- 11 -------------------------------------------------------------------------------------

    def test_wire_wait_for_event(self, stack: Stack) -> None:
        n = nonce()
        run = stack.server.wait_for_run(
            stack.server.send_one("e2e/wait", {"id": n, "nonce": n, "timeout_s": 2})
        )
        assert run.status == "Completed"
        calls = answers(stack, run.run_id)
        assert [call.summary for call in calls] == [
            (DISCOVERY, 0, 206, [("WaitForEvent", sha1("wait"))]),
            (DISCOVERY, 0, 200, []),
        ]
        wait = calls[0].op
        assert wait.get("name") == "e2e/wait.resume"
        assert as_obj(wait.get("opts")) == {
            "event": "e2e/wait.resume",
            "timeout": "2s",
            "if": "async.data.resume == true && async.data.id == event.data.id",
        }

    # -- 13: parallel, and two branches gathered ------------------------------------------------

    def test_wire_parallel_steps(self, stack: Stack) -> None:
        run = run_of(stack, "parallel")
        assert run.status == "Completed"
        a, b = sha1("a"), sha1("b")
        first, *targeted, last = answers(stack, run.run_id)
        assert first.summary == (DISCOVERY, 0, 206, [("StepPlanned", a), ("StepPlanned", b)])
        assert first.plan_only is False
        assert sorted((call.summary for call in targeted), key=str) == [
            (a, 0, 206, [("StepRun", a)]),
            (b, 0, 206, [("StepRun", b)]),
        ]
        assert all(call.plan_only is True for call in targeted), targeted
        assert last.summary == (DISCOVERY, 0, 200, [])
        assert last.plan_only is False

    def test_gathered_branches_go_on_once_every_planned_step_has_run(self, stack: Stack) -> None:
        """Ours has no race mode (the official Python SDK's ``ParallelMode.RACE``, tested in
        its module): branches gathered with ``asyncio.gather`` plan their steps together, and
        the server calls the function again only once every planned step has reported. So the
        fast branch's second step starts after the slow step has finished, not while it runs."""
        server, app = stack.server, stack.app
        run = server.wait_for_run(
            server.send_one("e2e/race-branches", {"nonce": nonce(), "slow_s": 2})
        )
        assert run.status == "Completed", run.output
        assert run.output == ["fast+fast-2", "slow"]

        notes = app.notes("race-branches", run_id=run.run_id)
        bodies = {
            what: [note for note in notes if note.what == what]
            for what in ("step:fast", "step:fast-2", "step:slow:start", "step:slow")
        }
        for what, found in bodies.items():
            assert len(found) == 1, (what, notes)
        [slow_start], [slow], [fast_2] = (
            bodies["step:slow:start"],
            bodies["step:slow"],
            bodies["step:fast-2"],
        )
        assert slow.t - slow_start.t >= 1.9, (slow_start, slow)
        assert fast_2.t >= slow.t, (slow, fast_2)

        fast, slow_id = sha1("fast"), sha1("slow")
        calls = answers(stack, run.run_id)
        plan, *targeted, done = calls
        assert plan.summary == (
            DISCOVERY,
            0,
            206,
            [("StepPlanned", fast), ("StepPlanned", slow_id)],
        )
        assert sorted((call.summary for call in targeted), key=str) == sorted(
            [(fast, 0, 206, [("StepRun", fast)]), (slow_id, 0, 206, [("StepRun", slow_id)])],
            key=str,
        )
        # The one new step after both is alone: it runs in the discovery call itself, which
        # checkpoints it and goes on to the function's end.
        assert done.summary == (DISCOVERY, 0, 200, [])
        assert checkpoints(stack, run.run_id) == [([("StepRun", sha1("fast-2"), "fast-2")], 200)]

    # -- 14, 15 ---------------------------------------------------------------------------------

    def test_wire_invoke(self, stack: Stack) -> None:
        n = nonce()
        run = stack.server.wait_for_run(stack.server.send_one("e2e/invoker", {"x": 1, "nonce": n}))
        assert run.status == "Completed"
        calls = answers(stack, run.run_id)
        assert [call.summary for call in calls] == [
            (DISCOVERY, 0, 206, [("InvokeFunction", sha1("inv"))]),
            (DISCOVERY, 0, 200, []),
        ]
        opts = as_obj(calls[0].op.get("opts"))
        assert opts.get("function_id") == f"{APP_ID}-invoke-child"
        assert as_obj(opts.get("payload")).get("data") == {"x": 1, "nonce": n}

    def test_wire_send_event(self, stack: Stack) -> None:
        run = run_of(stack, "send-event")
        assert run.status == "Completed"
        calls = answers(stack, run.run_id)
        assert [call.summary for call in calls] == [(DISCOVERY, 0, 200, [])]
        # Sent by the SDK during the call, as the Python SDK does: the step's data is the ids,
        # checkpointed without the events (the server must not send them again).
        [(steps, status)] = checkpoints(stack, run.run_id)
        assert status == 200
        assert steps == [("StepRun", sha1("send"), as_obj(run.output).get("ids"))]


# --------------------------------------------------------------------------------------------
# With checkpointing turned off: one step per call


@dataclasses.dataclass(frozen=True)
class OneCallPerStepSdk(StepwellSdk):
    def env(self, port: int) -> dict[str, str]:
        return {"STEPWELL_CHECKPOINT": "0"}


@pytest.fixture(scope="module")
def one_call_per_step(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    sdk = OneCallPerStepSdk(**{f.name: getattr(STEPWELL, f.name) for f in dataclasses.fields(Sdk)})
    with start_stack(sdk, tmp_path_factory.mktemp("e2e-one-call"), our_slugs()) as stack:
        yield stack


class TestOneCallPerStep:
    """``STEPWELL_CHECKPOINT=0``: each call runs one new step and answers it (no checkpoint)."""

    def test_wire_serial_steps_and_sleep(self, one_call_per_step: Stack) -> None:
        stack = one_call_per_step
        run = run_of(stack, "steps")
        assert run.status == "Completed"
        calls = answers(stack, run.run_id)
        assert [call.summary for call in calls] == [
            (DISCOVERY, 0, 206, [("StepRun", sha1("first step"))]),
            (DISCOVERY, 0, 206, [("Sleep", sha1("sleep"))]),
            (DISCOVERY, 0, 206, [("StepRun", sha1("second step"))]),
            (DISCOVERY, 0, 200, []),
        ]
        assert calls[0].op.get("data") == "first step"
        assert checkpoints(stack, run.run_id) == []

    def test_wire_send_event(self, one_call_per_step: Stack) -> None:
        stack = one_call_per_step
        run = run_of(stack, "send-event")
        assert run.status == "Completed"
        calls = answers(stack, run.run_id)
        assert [call.summary for call in calls] == [
            (DISCOVERY, 0, 206, [("StepRun", sha1("send"))]),
            (DISCOVERY, 0, 200, []),
        ]
        # Sent by the SDK during the call, as the Python SDK does: the step's data is the ids.
        sent = calls[0].op
        assert sent.get("name") == "sendEvent"
        assert sent.get("data") == as_obj(run.output).get("ids")
        assert sent.get("opts") is None
