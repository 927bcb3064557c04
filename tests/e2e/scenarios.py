"""The conformance scenarios of protocol.md §10, run against a real app on an official SDK.

``OfficialSdkScenarios`` holds one test per scenario. It is not collected by itself: each SDK's
test module subclasses it (``TestPythonSdk``, ``TestTypeScriptSdk``) and provides a
module-scoped ``stack`` fixture, so both SDKs pass the very same assertions. Both apps define
the same functions (ids, triggers, return values); what legitimately differs between the SDKs
is in ``harness.Sdk``. Each app also has functions for what only its SDK can do
(``TS_ONLY_FUNCTION_IDS``, ``PY_ONLY_FUNCTION_IDS``), tested in that SDK's module.

Tests share one server and one app per module, so each one tells its runs apart by a nonce
carried in the event data, and finds its runs through the event it sent or the app's log.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import time
from collections.abc import Callable

import pytest

from tests.e2e.harness import (
    APP_ID,
    TS,
    Run,
    Sdk,
    Stack,
    StoredEvent,
    as_list,
    as_obj,
    as_str,
    nonce,
    sha1,
    stays,
    wait_until,
)

# Every function both apps register, as the server lists them (composite ids, protocol.md §3.3).
FUNCTION_IDS = (
    "basic",
    "steps",
    "retry-step",
    "retry-fn",
    "exhaust",
    "caught",
    "non-retriable",
    "retry-after",
    "with-handler",
    "with-handler-failure",
    "wait",
    "cancellable",
    "parallel",
    "invoke-child",
    "invoker",
    "invoke-missing",
    "slow-child",
    "invoke-timeout",
    "send-event",
    "sent-receiver",
    "idem",
    "cron",
    "batch",
    "debounce",
    "big-state",
)
# step.ai.infer, step.fetch and step.waitForSignal exist in the TS SDK only; a race with the
# first result winning (group.parallel mode "race" around Promise.race) too.
TS_ONLY_FUNCTION_IDS = ("ai-infer", "fetch", "signal", "race")
# PY's ParallelMode.RACE waits for every branch; slow-step outlasts a stream's keep-alive.
PY_ONLY_FUNCTION_IDS = ("race-branches", "slow-step")
FAILURE_HANDLERS = ("with-handler-failure",)


def function_ids(sdk: Sdk) -> tuple[str, ...]:
    """The ids of every function the app on ``sdk`` defines."""
    return FUNCTION_IDS + (TS_ONLY_FUNCTION_IDS if sdk.name == TS.name else PY_ONLY_FUNCTION_IDS)


def function_slugs(sdk: Sdk) -> tuple[str, ...]:
    """Every function the app on ``sdk`` registers, as the server lists them (§3.3)."""
    return tuple(f"{APP_ID}-{fn}" for fn in function_ids(sdk))


# The use_api scenario: two step results of this many characters put the run state over 4 MiB
# (protocol.md §5.9) while each stays under the 4 MiB limit of one step's output.
BIG_STEP_CHARS = 3_000_000


def blob_digest(seed: str, size: int) -> dict[str, object]:
    """What the big-state function returns for its blob ``seed`` (as both apps compute it)."""
    unit = f"{seed}0123456789"
    text = (unit * math.ceil(size / len(unit)))[:size]
    return {"length": len(text), "sha256": hashlib.sha256(text.encode()).hexdigest()}


# A cron of "* * * * *" fires within a minute of the sync; a little more for the run itself.
CRON_TIMEOUT = 75.0


def _for_run(run: Run) -> Callable[[StoredEvent], bool]:
    """A predicate on system events: the event is about ``run``."""

    def matches(event: StoredEvent) -> bool:
        return event.data.get("run_id") == run.run_id

    return matches


class OfficialSdkScenarios:
    """protocol.md §10, scenario by scenario. Subclasses provide the ``stack`` fixture."""

    # -- 1, 2: sync and introspection ---------------------------------------------------------

    def test_sync_registers_every_function(self, stack: Stack) -> None:
        info = stack.server.dev_info()
        listed = {
            as_str(as_obj(fn).get("slug")): as_obj(fn)
            for fn in as_list(info.get("functions"), "GET /dev functions")
        }
        for slug in function_slugs(stack.sdk):
            assert slug in listed, f"{slug} not listed by GET /dev: {sorted(listed)}"
            steps = as_list(listed[slug].get("steps"), f"{slug} steps")
            uri = as_obj(steps[0], f"{slug} step").get("uri")
            assert uri == f"{stack.app.url}?fnId={slug}&stepId=step"

    def test_introspection(self, stack: Stack) -> None:
        response = stack.app.introspect()
        assert response.status_code == 200
        assert response.headers["x-inngest-sdk"] == stack.sdk.header
        body = as_obj(response.json())
        assert body["mode"] == "dev"
        assert body["schema_version"] == "2024-05-24"
        expected = len(function_ids(stack.sdk))
        if not stack.sdk.counts_failure_handlers:
            expected -= len(FAILURE_HANDLERS)
        assert body["function_count"] == expected

    # -- 3: basic -----------------------------------------------------------------------------

    def test_basic_run_completes_with_the_return_value(self, stack: Stack) -> None:
        server = stack.server
        n = nonce()
        event_id = server.send_one("e2e/basic", {"test": True, "nonce": n})

        run = server.wait_for_run(event_id)
        assert run.status == "Completed"
        assert run.output == {"name": "e2e/basic", "body": "ok", "data": {"test": True, "nonce": n}}
        [call] = stack.app.notes("basic", run_id=run.run_id, what="call")
        assert call.attempt == 0

        finished = server.wait_for_event("inngest/function.finished", _for_run(run))
        assert finished.data.get("function_id") == f"{APP_ID}-basic"
        assert finished.data.get("result") == run.output

    # -- 4: serial steps and a sleep ----------------------------------------------------------

    def test_serial_steps_and_sleep(self, stack: Stack) -> None:
        n = nonce()
        run = stack.server.wait_for_run(stack.server.send_one("e2e/steps", {"nonce": n}))
        assert run.status == "Completed"
        assert run.output == {"first": "first step", "second": "second step"}

        notes = stack.app.notes("steps", run_id=run.run_id)
        [first] = [note for note in notes if note.what == "step:first step"]
        [second] = [note for note in notes if note.what == "step:second step"]
        # Memoised: each step body ran once. The 2 s sleep lay between them.
        assert second.t - first.t >= 1.9, (first, second)
        assert all(note.attempt == 0 for note in notes), notes

    # -- 5: retries ---------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("fn", "body", "calls"),
        [
            # The step throws on attempt 0; attempt 1 runs it again; the next request is 0 again.
            pytest.param("retry-step", "step:flaky", [0, 1, 0], id="step-level"),
            # The function throws on attempt 0 and returns on attempt 1.
            pytest.param("retry-fn", "call", [0, 1], id="function-level"),
        ],
    )
    def test_retry_then_success(self, stack: Stack, fn: str, body: str, calls: list[int]) -> None:
        n = nonce()
        run = stack.server.wait_for_run(stack.server.send_one(f"e2e/{fn}", {"nonce": n}))
        assert run.status == "Completed"
        assert run.output == {"attempt": 1}
        assert [note.attempt for note in stack.app.notes(fn, run_id=run.run_id, what=body)] == [
            0,
            1,
        ]
        calls_made = stack.app.notes(fn, run_id=run.run_id, what="call")
        assert [note.attempt for note in calls_made] == calls

    # -- 6: a step runs out of attempts -------------------------------------------------------

    def test_step_exhausting_its_retries_fails_the_run(self, stack: Stack) -> None:
        server = stack.server
        run = server.wait_for_run(server.send_one("e2e/exhaust", {"nonce": nonce()}))
        assert run.status == "Failed"
        assert "boom" in str(run.output)

        # retries=1: the step body ran on attempts 0 and 1, and no more; then one request in
        # which the SDK threw the memoised error, non-retriably: no retry of that either.
        bodies = stack.app.notes("exhaust", run_id=run.run_id, what="step:always fails")
        assert [note.attempt for note in bodies] == [0, 1]
        calls = stack.app.notes("exhaust", run_id=run.run_id, what="call")
        assert [note.attempt for note in calls] == [0, 1, 0]

        failed = server.wait_for_event("inngest/function.failed", _for_run(run))
        assert failed.data.get("function_id") == f"{APP_ID}-exhaust"
        assert as_obj(failed.data.get("error"), "function.failed error").get("message") == "boom"
        finished = server.wait_for_event("inngest/function.finished", _for_run(run))
        assert finished.data.get("function_id") == f"{APP_ID}-exhaust"
        assert "error" in finished.data

    # -- 7: the function catches the step's error ---------------------------------------------

    def test_caught_step_error_lets_the_run_complete(self, stack: Stack) -> None:
        run = stack.server.wait_for_run(stack.server.send_one("e2e/caught", {"nonce": nonce()}))
        assert run.status == "Completed"
        assert run.output == {
            "recovered": True,
            "name": stack.sdk.thrown_error_name,
            "message": "boom",
        }
        bodies = stack.app.notes("caught", run_id=run.run_id, what="step:always fails")
        assert [note.attempt for note in bodies] == [0, 1]

    # -- 8: NonRetriableError -----------------------------------------------------------------

    def test_non_retriable_error_fails_after_one_request(self, stack: Stack) -> None:
        server = stack.server
        run = server.wait_for_run(server.send_one("e2e/non-retriable", {"nonce": nonce()}))
        assert run.status == "Failed"
        assert [
            note.attempt
            for note in stack.app.notes("non-retriable", run_id=run.run_id, what="call")
        ] == [0]
        failed = server.wait_for_event("inngest/function.failed", _for_run(run))
        assert as_obj(failed.data.get("error"), "function.failed error").get("message") == "nope"

    # -- 9: RetryAfterError -------------------------------------------------------------------

    def test_retry_after_error_delays_the_next_attempt(self, stack: Stack) -> None:
        # The server retries every second (--retry-interval 1); the function asks for 3 s.
        run = stack.server.wait_for_run(
            stack.server.send_one("e2e/retry-after", {"nonce": nonce()})
        )
        assert run.status == "Completed"
        assert run.output == {"attempt": 1}
        first, second = stack.app.notes("retry-after", run_id=run.run_id, what="call")
        assert (first.attempt, second.attempt) == (0, 1)
        assert second.t - first.t >= 2.9, (first, second)

    # -- 10: onFailure ------------------------------------------------------------------------

    def test_on_failure_handler_runs_with_the_failure(self, stack: Stack) -> None:
        server = stack.server
        parent = server.wait_for_run(server.send_one("e2e/with-handler", {"nonce": nonce()}))
        assert parent.status == "Failed"

        failed = server.wait_for_event("inngest/function.failed", _for_run(parent))
        assert failed.data.get("function_id") == f"{APP_ID}-with-handler"
        handler = server.wait_for_run(failed.internal_id)
        assert handler.status == "Completed"
        assert handler.output == {
            "event": "inngest/function.failed",
            "function_id": f"{APP_ID}-with-handler",
            "run_id": parent.run_id,
            "message": "handler please",
        }
        assert stack.app.notes("with-handler-failure", run_id=handler.run_id)

    # -- 11: waitForEvent ---------------------------------------------------------------------

    def test_wait_for_event_resumes_on_the_matching_event_only(self, stack: Stack) -> None:
        server = stack.server
        n = nonce()
        event_id = server.send_one("e2e/wait", {"id": n, "nonce": n, "timeout_s": 30})
        run = server.wait_for_run_started(event_id)
        # The SDK has answered the first request, with the WaitForEvent op.
        stack.app.wait_for_note("wait", run_id=run.run_id)

        def send_non_matching() -> None:
            server.send(
                [
                    {"name": "e2e/wait.resume", "data": {"id": n, "resume": False}},
                    {"name": "e2e/wait.resume", "data": {"id": f"not-{n}", "resume": True}},
                ]
            )

        send_non_matching()
        stays(
            lambda: not server.get_run(run.run_id).ended,
            seconds=1.0,
            what="the run to keep waiting after events its `if` rejects",
        )

        def resumed() -> Run | None:
            # Non-matching events again first: if the pause had not been saved before the ones
            # above, these are evaluated against it.
            send_non_matching()
            server.send_one("e2e/wait.resume", {"id": n, "resume": True})
            current = server.get_run(run.run_id)
            return current if current.ended else None

        final = wait_until(resumed, timeout=30, interval=1.0, what="the wait to be resumed")
        assert final.status == "Completed"
        assert final.output == {"resumed": {"id": n, "resume": True}, "name": "e2e/wait.resume"}

    def test_wait_for_event_times_out_with_null(self, stack: Stack) -> None:
        n = nonce()
        run = stack.server.wait_for_run(
            stack.server.send_one("e2e/wait", {"id": n, "nonce": n, "timeout_s": 2})
        )
        assert run.status == "Completed"
        assert run.output == {"resumed": None}
        calls = stack.app.notes("wait", run_id=run.run_id, what="call")
        assert len(calls) == 2, calls
        assert calls[1].t - calls[0].t >= 1.9, calls

    # -- 12: cancellation ---------------------------------------------------------------------

    @pytest.mark.parametrize("how", ["event", "api"])
    def test_cancellation(self, stack: Stack, how: str) -> None:
        server, app = stack.server, stack.app
        doomed, spared = nonce(), nonce()
        doomed_event = server.send_one("e2e/cancellable", {"request_id": doomed, "nonce": doomed})
        spared_event = server.send_one("e2e/cancellable", {"request_id": spared, "nonce": spared})
        doomed_run = server.wait_for_run_started(doomed_event)
        spared_run = server.wait_for_run_started(spared_event)
        before = app.wait_for_note("cancellable", run_id=doomed_run.run_id, what="step:before")
        app.wait_for_note("cancellable", run_id=spared_run.run_id, what="step:before")

        if how == "event":
            server.send_one("e2e/cancellable.cancel", {"request_id": doomed})
        else:
            server.cancel_run(doomed_run.run_id)

        assert server.wait_for_run_end(doomed_run.run_id).status == "Cancelled"
        # The other run's `if` did not match: it sleeps its 5 s and completes.
        completed = server.wait_for_run_end(spared_run.run_id)
        assert completed.status == "Completed"
        assert completed.output == "after"
        # No request for the cancelled run after its sleep would have ended.
        stays(
            lambda: not app.notes("cancellable", run_id=doomed_run.run_id, what="step:after"),
            seconds=max(0.0, before.t + 5.0 + 1.5 - time.time()),
            what="the cancelled run to get no further request",
        )
        assert server.get_run(doomed_run.run_id).status == "Cancelled"

        cancelled = server.wait_for_event(
            "inngest/function.cancelled",
            _for_run(doomed_run),
        )
        assert cancelled.data.get("function_id") == f"{APP_ID}-cancellable"
        server.wait_for_event("inngest/function.finished", _for_run(doomed_run))

    # -- 13: parallel steps -------------------------------------------------------------------

    def test_parallel_steps(self, stack: Stack) -> None:
        run = stack.server.wait_for_run(stack.server.send_one("e2e/parallel", {"nonce": nonce()}))
        assert run.status == "Completed"
        assert run.output == [1, 2]
        for step in ("a", "b"):
            bodies = stack.app.notes("parallel", run_id=run.run_id, what=f"step:{step}")
            assert len(bodies) == 1, bodies

    # -- 14: invoke ---------------------------------------------------------------------------

    def test_invoke_returns_the_child_result(self, stack: Stack) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        run = server.wait_for_run(server.send_one("e2e/invoker", {"x": 1, "nonce": n}))
        assert run.status == "Completed"
        assert run.output == {"result": 42}

        child_note = app.wait_for_note("invoke-child", nonce=n)
        child = server.wait_for_run_end(child_note.run_id)
        assert child.status == "Completed"
        assert child.output == 42

        correlation_id = f"{run.run_id}.{sha1('inv')}"
        invoked = server.wait_for_event(
            "inngest/function.invoked", lambda event: event.data.get("nonce") == n
        )
        assert invoked.data.get("x") == 1
        meta = as_obj(invoked.data.get("_inngest"), "function.invoked data._inngest")
        assert meta.get("fn_id") == f"{APP_ID}-invoke-child"
        assert meta.get("correlation_id") == correlation_id
        finished = server.wait_for_event("inngest/function.finished", _for_run(child))
        assert finished.data.get("correlation_id") == correlation_id
        assert finished.data.get("result") == 42

    def test_invoke_of_an_unknown_function_is_a_step_error(self, stack: Stack) -> None:
        server = stack.server
        run = server.wait_for_run(server.send_one("e2e/invoke-missing", {"nonce": nonce()}))
        assert run.status == "Completed"
        output = as_obj(run.output)
        assert output.get("name") == "Error"
        message = as_str(output.get("message"))
        assert "could not find function" in message.lower(), message
        assert f"{APP_ID}-does-not-exist" in message

    def test_invoke_timeout_is_a_step_error(self, stack: Stack) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        run = server.wait_for_run(server.send_one("e2e/invoke-timeout", {"nonce": n}))
        assert run.status == "Completed"
        assert run.output == {
            "name": "InngestInvokeTimeoutError",
            "message": "Timed out waiting for invoked function to complete",
        }
        parent_calls = app.notes("invoke-timeout", run_id=run.run_id, what="call")
        assert parent_calls[-1].t - parent_calls[0].t >= 1.9, parent_calls

        # The child goes on (it sleeps 6 s) and completes after the parent gave up; its late
        # function.finished changes nothing for the parent.
        child_note = app.wait_for_note("slow-child", nonce=n)
        child = server.wait_for_run_end(child_note.run_id)
        assert child.status == "Completed"
        child_calls = app.notes("slow-child", run_id=child.run_id, what="call")
        assert parent_calls[-1].t < child_calls[-1].t
        assert server.get_run(run.run_id).output == run.output

    # -- 15: sendEvent ------------------------------------------------------------------------

    def test_send_event_step_triggers_a_run(self, stack: Stack) -> None:
        server = stack.server
        n = nonce()
        run = server.wait_for_run(server.send_one("e2e/send-event", {"nonce": n}))
        assert run.status == "Completed"
        [sent_id] = as_list(as_obj(run.output).get("ids"), "ids sent by the step")

        receiver = server.wait_for_run(as_str(sent_id))
        assert receiver.status == "Completed"
        assert receiver.output == {"got": {"from_run": run.run_id, "nonce": n}}
        # The step ran once, so the event was sent once.
        assert len({note.run_id for note in stack.app.notes("sent-receiver", nonce=n)}) == 1

    # -- 16: idempotent event ids -------------------------------------------------------------

    def test_same_event_id_twice_starts_one_run(self, stack: Stack) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        first = server.send_one("e2e/idem", {"nonce": n}, id=f"dup-{n}")
        second = server.send_one("e2e/idem", {"nonce": n}, id=f"dup-{n}")
        assert first != second  # internal ids, one per event received

        run = server.wait_for_run(first)
        assert run.status == "Completed"
        assert run.output == {"id": f"dup-{n}"}
        stays(
            lambda: (
                not server.runs_of_event(second)
                and {note.run_id for note in app.notes("idem", nonce=n)} == {run.run_id}
            ),
            seconds=2.0,
            what="the repeated event id to start no second run",
        )

    # -- 18: batching and debounce ------------------------------------------------------------

    def test_batch_of_three_events_is_one_run(self, stack: Stack) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        server.send([{"name": "e2e/batch", "data": {"nonce": n, "i": i}} for i in range(3)])
        call = app.wait_for_note("batch", nonce=n)
        run = server.wait_for_run_end(call.run_id)
        assert run.status == "Completed"
        assert run.output == {"count": 3, "values": [0, 1, 2], "first": 0}
        assert {note.run_id for note in app.notes("batch", nonce=n)} == {run.run_id}

    def test_debounce_runs_once_with_the_last_event(self, stack: Stack) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        ids = [server.send_one("e2e/debounce", {"nonce": n, "i": i}) for i in range(3)]
        last_sent = time.time()

        call = app.wait_for_note("debounce", nonce=n)
        assert call.t - last_sent >= 1.9, "the run started before the 2 s debounce period"
        run = server.wait_for_run_end(call.run_id)
        assert run.status == "Completed"
        assert run.output == {"i": 2, "events": 1}
        assert [r.run_id for r in server.runs_of_event(ids[2])] == [run.run_id]
        stays(
            lambda: {note.run_id for note in app.notes("debounce", nonce=n)} == {run.run_id},
            seconds=2.5,
            what="the debounced events to start no second run",
        )

    # -- use_api: run state too large to send (protocol.md §5.9) -------------------------------

    def test_large_run_state_is_fetched_by_the_sdk(self, stack: Stack) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        run = server.wait_for_run(
            server.send_one("e2e/big-state", {"nonce": n, "size": BIG_STEP_CHARS}), timeout=60
        )
        assert run.status == "Completed", run.output
        # The function saw both ~3 MB results exactly (they came back through the API) and
        # its triggering event.
        assert run.output == {
            "a": blob_digest("a", BIG_STEP_CHARS),
            "b": blob_digest("b", BIG_STEP_CHARS),
            "nonce": n,
            "events": 1,
        }
        for blob in ("a", "b"):
            bodies = app.notes("big-state", run_id=run.run_id, what=f"step:blob {blob}")
            assert len(bodies) == 1, bodies

        wire = app.wire()
        calls = wire.calls_of(run.run_id)
        assert calls, wire.calls
        # Until both results were stored the state fit in the request and was sent inline;
        # from then on it did not: the memos stayed on the server, and the flags told the SDK
        # to fetch them (PY reads the top-level one, TS ctx.use_api; both are sent).
        first_large = next((i for i, call in enumerate(calls) if call.use_api is True), None)
        assert first_large is not None, calls
        for call in calls[:first_large]:
            assert (call.use_api, call.ctx_use_api) == (False, False), call
        for call in calls[first_large:]:
            assert (call.use_api, call.ctx_use_api, call.steps) == (True, True, 0), call
        for path in (f"/v0/runs/{run.run_id}/actions", f"/v0/runs/{run.run_id}/batch"):
            assert f"GET {path}" in wire.api_paths, (path, wire.api_paths[-10:])

    # -- 17: cron (last: the module's server has been ticking all along) ----------------------

    @pytest.mark.slow
    @pytest.mark.timeout(300)
    def test_cron_runs_every_minute(self, stack: Stack) -> None:
        call = stack.app.wait_for_note("cron", timeout=CRON_TIMEOUT)
        run = stack.server.wait_for_run_end(call.run_id)
        assert run.status == "Completed"
        output = as_obj(run.output)
        assert output.get("name") == "inngest/scheduled.timer"
        data = as_obj(output.get("data"))
        assert data.get("cron") == "* * * * *"
        scheduled = datetime.datetime.fromisoformat(
            as_str(data.get("scheduledAt")).replace("Z", "+00:00")
        )
        assert (scheduled.second, scheduled.microsecond) == (0, 0), scheduled
        as_str(data.get("fireAt"))
