"""protocol.md §10 against a real app on the official Python SDK (inngest 0.5.19, FastAPI).

The app (``apps/py_fastapi_app.py``) and ``stepwell dev`` run as processes on free loopback
ports; the scenarios themselves are in ``scenarios.py``, shared with the TypeScript SDK.

Here too: what only PY does — ``ParallelMode.RACE`` (protocol.md §5.7) — and streaming (§5.10):
a second app process, started with ``INNGEST_STREAMING=force`` and synced by a server of its
own, answers every call with a 201 stream that the server has to unwrap.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.harness import (
    APP_ID,
    PY,
    Run,
    Stack,
    nonce,
    sha1,
    start_stack,
)
from tests.e2e.scenarios import OfficialSdkScenarios, function_slugs


@pytest.fixture(scope="module")
def stack(py_stack: Stack) -> Stack:
    return py_stack


@pytest.fixture(scope="module")
def streaming_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The same app with ``INNGEST_STREAMING=force``, and a server of its own syncing it."""
    with start_stack(
        PY,
        tmp_path_factory.mktemp("e2e-py-streaming"),
        function_slugs(PY),
        app_env={"INNGEST_STREAMING": "force"},
    ) as stack:
        yield stack


class TestPythonSdk(OfficialSdkScenarios):
    """Every scenario, with the Python SDK's app; plus what only PY does."""

    # -- ParallelMode.RACE (§5.7) ---------------------------------------------------------------

    def test_race_mode_lets_a_branch_go_on_while_another_runs(self, stack: Stack) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        run = server.wait_for_run(server.send_one("e2e/race-branches", {"nonce": n, "slow_s": 2}))
        assert run.status == "Completed", run.output
        # PY's group.parallel returns every branch's result, in order.
        assert run.output == ["fast+fast-2", "slow"]

        notes = app.notes("race-branches", run_id=run.run_id)
        bodies = {
            what: [note for note in notes if note.what == what]
            for what in ("step:fast", "step:fast-2", "step:slow:start", "step:slow")
        }
        # Each step body ran once: the slow step was not started again while it ran.
        for what, found in bodies.items():
            assert len(found) == 1, (what, notes)
        [fast_2], [slow_start], [slow] = (
            bodies["step:fast-2"],
            bodies["step:slow:start"],
            bodies["step:slow"],
        )
        # Race mode: the fast branch's second step ran while the slow step was still going.
        assert fast_2.t < slow.t, (fast_2, slow)
        assert slow.t - slow_start.t >= 1.9, (slow_start, slow)
        # Each step was called once (the slow one was waited on while it ran, not called again
        # when the discoveries after fast and fast-2 planned it again), and discovery ran four
        # times: the plan, after fast, after fast-2, after slow.
        calls = app.wire().calls_of(run.run_id)
        assert {call.status for call in calls} <= {200, 206}, calls
        targeted = sorted(call.step_id or "" for call in calls if call.step_id != "step")
        assert targeted == sorted(sha1(step) for step in ("fast", "fast-2", "slow")), calls
        assert [call.step_id for call in calls].count("step") == 4, calls


class TestPythonSdkStreaming:
    """The server unwraps the SDK's 201 streams (§5.10): keep-alive spaces, then the envelope."""

    @pytest.fixture
    def stack(self, streaming_stack: Stack) -> Stack:
        return streaming_stack

    def _run(self, stack: Stack, fn: str, data: dict[str, object]) -> Run:
        """Trigger ``fn`` and wait for its run; check that the SDK streamed every answer."""
        run = stack.server.wait_for_run(stack.server.send_one(f"e2e/{fn}", data))
        calls = stack.app.wire().calls_of(run.run_id)
        assert calls, f"no calls of run {run.run_id} recorded"
        assert all(call.status == 201 for call in calls), calls
        return run

    def test_function_result(self, stack: Stack) -> None:
        # 201 around a 200: the run's output is the function's return value.
        n = nonce()
        run = self._run(stack, "basic", {"test": True, "nonce": n})
        assert run.status == "Completed"
        assert run.output == {"name": "e2e/basic", "body": "ok", "data": {"test": True, "nonce": n}}

    def test_steps_and_sleep(self, stack: Stack) -> None:
        # 201 around 206s: StepRun, then Sleep, then StepRun.
        run = self._run(stack, "steps", {"nonce": nonce()})
        assert run.status == "Completed"
        assert run.output == {"first": "first step", "second": "second step"}

    def test_a_step_outlasting_the_keep_alive_interval(self, stack: Stack) -> None:
        # The step takes 3.5 s: the SDK sends a keep-alive every 3 s until its answer is ready.
        run = self._run(stack, "slow-step", {"nonce": nonce()})
        assert run.status == "Completed"
        assert run.output == {"slow": "slow"}

    def test_step_retry(self, stack: Stack) -> None:
        # 201 around a 206 StepError: retried, then the step succeeds.
        run = self._run(stack, "retry-step", {"nonce": nonce()})
        assert run.status == "Completed"
        assert run.output == {"attempt": 1}
        calls = stack.app.notes("retry-step", run_id=run.run_id, what="call")
        assert [note.attempt for note in calls] == [0, 1, 0]

    def test_parallel_steps(self, stack: Stack) -> None:
        run = self._run(stack, "parallel", {"nonce": nonce()})
        assert run.status == "Completed"
        assert run.output == [1, 2]

    def test_non_retriable_error_header_inside_the_stream_is_obeyed(self, stack: Stack) -> None:
        # 201 around a 500 with x-inngest-no-retry: true: one call, and the run fails.
        run = self._run(stack, "non-retriable", {"nonce": nonce()})
        assert run.status == "Failed"
        assert "nope" in str(run.output)
        calls = stack.app.notes("non-retriable", run_id=run.run_id, what="call")
        assert [note.attempt for note in calls] == [0]
        failed = stack.server.wait_for_event(
            "inngest/function.failed", lambda event: event.data.get("run_id") == run.run_id
        )
        assert failed.data.get("function_id") == f"{APP_ID}-non-retriable"

    def test_exhausted_step_fails_the_run(self, stack: Stack) -> None:
        run = self._run(stack, "exhaust", {"nonce": nonce()})
        assert run.status == "Failed"
        assert "boom" in str(run.output)
        calls = stack.app.notes("exhaust", run_id=run.run_id, what="call")
        assert [note.attempt for note in calls] == [0, 1, 0]
