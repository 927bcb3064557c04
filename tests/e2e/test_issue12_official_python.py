"""Issue 12, with the official Python SDK (inngest 0.5.19) under FastAPI and under Flask.

Each behaviour is checked against what Inngest does with the same app:

1. a targeted parallel step that meets a different step fails the run at once, with the SDK's
   ``step_unexpected`` body as its output;
2. the ``inngest/function.failed`` event's ``data.error`` is Inngest's standard error shape;
3. a batch of eight 1 MiB events is accepted, and runs (the SDK fetches it through the API);
6. an error raised after the function caught a ``StepError`` is retried like any other.

The app (``apps/py_issue12_app.py``) and ``stepwell dev`` run as their own processes on loopback.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.harness import (
    APP_ID,
    APPS_DIR,
    LOOPBACK,
    PY_SDK_VERSION,
    Sdk,
    Stack,
    as_obj,
    nonce,
    start_stack,
)

APP = APPS_DIR / "py_issue12_app.py"
FUNCTIONS = ("nondeterministic", "fails", "fails-failure", "big-batch", "caught-then-raise")
MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class _Framework(Sdk):
    """The Python SDK, serving ``py_issue12_app.py`` with one framework."""

    framework: str = "fastapi"

    def command(self, port: int) -> list[str]:
        return [
            sys.executable,
            str(APP),
            "--framework",
            self.framework,
            "--host",
            LOOPBACK,
            "--port",
            str(port),
        ]


def _sdk(framework: str) -> _Framework:
    return _Framework(
        name="py",
        header=f"inngest-py:v{PY_SDK_VERSION}",
        thrown_error_name="ValueError",
        counts_failure_handlers=False,
        framework=framework,
    )


@pytest.fixture(scope="module", params=["fastapi", "flask"])
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    framework = str(request.param)
    slugs = [f"{APP_ID}-{fn}" for fn in FUNCTIONS]
    with start_stack(_sdk(framework), tmp_path_factory.mktemp(f"e2e-i12-{framework}"), slugs) as s:
        yield s


def test_targeted_step_meeting_another_step_fails_the_run_at_once(stack: Stack) -> None:
    server, app = stack.server, stack.app
    n = nonce()
    run = server.wait_for_run(server.send_one("e2e/nondet", {"nonce": n}))
    assert run.status == "Failed", run
    # Inngest: the run's output is the SDK's answer, as it gave it.
    assert run.output == {
        "code": "step_unexpected",
        "message": 'found step "after" when targeting a different step',
        "name": "StepUnexpectedError",
        "stack": None,
    }
    # Discovery once (the plan of three), then one targeted call per planned step, and no
    # more: no retry (retries=0), no discovery after the failure, ``after`` never ran.
    calls = app.notes("nondeterministic", run_id=run.run_id, what="call")
    assert [call.attempt for call in calls] == [0, 0, 0, 0], calls
    ran = {note.what for note in app.notes("nondeterministic", run_id=run.run_id)} - {"call"}
    assert ran == {"step:1a", "step:1b"}, ran
    failed = server.wait_for_event(
        "inngest/function.failed", lambda event: event.data.get("run_id") == run.run_id
    )
    assert as_obj(failed.data.get("error")) == {
        "error": "invalid status code: 500",
        "message": 'found step "after" when targeting a different step',
        "name": "StepUnexpectedError",
    }


def test_failure_event_error_is_the_standard_error(stack: Stack) -> None:
    server, app = stack.server, stack.app
    n = nonce()
    run = server.wait_for_run(server.send_one("e2e/fails", {"nonce": n}))
    assert run.status == "Failed", run
    assert [call.attempt for call in app.notes("fails", run_id=run.run_id)] == [0]

    failed = server.wait_for_event(
        "inngest/function.failed", lambda event: event.data.get("run_id") == run.run_id
    )
    error = as_obj(failed.data.get("error"), "data.error")
    assert set(error) == {"error", "message", "name", "stack"}, error
    assert error["error"] == "invalid status code: 500"
    assert error["message"] == "intentional failure"
    assert error["name"] == "MyError"
    assert str(error["stack"]).startswith("Traceback (most recent call last):"), error

    # The on_failure handler received exactly that.
    handler_note = app.wait_for_note("fails-failure", nonce=n)
    handler = server.wait_for_run_end(handler_note.run_id)
    assert handler.status == "Completed", handler
    seen = as_obj(handler.output, "handler output")
    assert seen["event"] == "inngest/function.failed"
    assert seen["function_id"] == f"{APP_ID}-fails"
    assert seen["error"] == error


def test_a_batch_of_eight_one_mib_events_runs(stack: Stack) -> None:
    server, app = stack.server, stack.app
    n = nonce()
    blob = "x" * MIB
    ids = server.send(
        [{"name": "e2e/big", "data": {"nonce": n, "i": i, "blob": blob}} for i in range(8)]
    )
    run = server.wait_for_run(ids[0], timeout=60)
    assert run.status == "Completed", str(run.output)[:2000]
    assert run.output == {"count": 8, "sizes": [MIB] * 8}
    assert [note.attempt for note in app.notes("big-batch", run_id=run.run_id)] == [0]
    # 8 MiB of events is over what a call carries: the SDK fetched them through the API.
    fetched = [note.what for note in app.notes("api", run_id=run.run_id)]
    assert fetched == [f"GET /v0/runs/{run.run_id}/batch: 8 events"], fetched


def test_events_of_three_mib_are_accepted_and_one_over_it_refused(stack: Stack) -> None:
    server = stack.server
    # 3 MiB is Inngest's absolute maximum for one event: just under it is accepted, six of
    # them in one request too (18 MiB: Inngest caps each event, not the request)...
    near = "y" * (3 * MIB - 200)
    ids = server.send([{"name": "e2e/unwatched", "data": {"i": i, "blob": near}} for i in range(6)])
    assert len(set(ids)) == 6
    # ...and just over it refused, saying so.
    over = "y" * (3 * MIB + 1)
    response = server.http.post("/e/test-key", json={"name": "e2e/unwatched", "data": {"b": over}})
    assert response.status_code == 400, response.text[:500]
    assert "over the limit of 3145728 bytes" in response.json()["error"]


def test_error_after_a_caught_step_error_is_retried(stack: Stack) -> None:
    server, app = stack.server, stack.app
    n = nonce()
    run = server.wait_for_run(server.send_one("e2e/catch-raise", {"nonce": n}))
    assert run.status == "Failed", run
    assert as_obj(run.output)["name"] == "MyError"
    # The step tried twice (retries=1) and settled; the function-level error after it was
    # retried too: raised on attempts 0 and 1.
    steps = app.notes("caught-then-raise", run_id=run.run_id, what="step:always fails")
    assert [note.attempt for note in steps] == [0, 1], steps
    raises = app.notes("caught-then-raise", run_id=run.run_id, what="raise")
    assert [note.attempt for note in raises] == [0, 1], raises
    server.wait_for_event(
        "inngest/function.failed", lambda event: event.data.get("run_id") == run.run_id
    )
