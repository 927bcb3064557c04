"""protocol.md §10 against a real app on the official TypeScript SDK (inngest 4.24.0, node:http).

The app (``apps/ts/app.mjs``, dependencies pinned by ``apps/ts/package-lock.json`` and installed
with ``npm ci`` on first use) and ``stepwell dev`` run as processes on free loopback ports; the
scenarios themselves are in ``scenarios.py``, shared with the Python SDK. Without node the
module is skipped locally, and fails in CI (``CI=true``).

Here too: the ops only the TS SDK has (protocol.md §5.3): ``step.ai.infer`` and ``step.fetch``,
which the server performs itself (against ``stand_in``, a loopback stand-in for the outside
world), ``step.waitForSignal`` with ``POST /v1/signals``, and a parallel race (§5.7).
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.harness import (
    LOOPBACK,
    RUN_TIMEOUT,
    Stack,
    StandIn,
    as_list,
    as_obj,
    as_str,
    chat_completion,
    free_port,
    nonce,
    sha1,
    wait_until,
)
from tests.e2e.scenarios import OfficialSdkScenarios

# The first test's setup may include `npm ci`: more than the suite's default timeout.
pytestmark = [pytest.mark.timeout(300)]

# What the app's ai-infer function sends, with the model its openai() helper fills in.
STAND_IN_MODEL = "stand-in-model"


@pytest.fixture(scope="module")
def stack(ts_stack: Stack) -> Stack:
    return ts_stack


def _step_error(output: object) -> tuple[str, str]:
    """The (name, message) of the StepError a function caught and returned as ``error``."""
    error = as_obj(as_obj(output, "run output").get("error"), "caught error")
    return as_str(error.get("name")), as_str(error.get("message"))


class TestTypeScriptSdk(OfficialSdkScenarios):
    """Every scenario, with the TypeScript SDK's app; plus what only TS does."""

    def test_invoke_only_function_registers_no_trigger(self, stack: Stack) -> None:
        # TS functions without triggers can only be invoked: they sync with `triggers: []`.
        functions = {
            as_obj(fn).get("slug"): as_obj(fn)
            for fn in as_list(stack.server.dev_info().get("functions"))
        }
        for slug in ("myapp-invoke-child", "myapp-slow-child"):
            assert not functions[slug].get("triggers"), functions[slug]

    # -- step.ai.infer: the AIGateway op --------------------------------------------------------

    def test_ai_infer_forwards_the_request_and_returns_the_provider_answer(
        self, stack: Stack, stand_in: StandIn
    ) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        key = f"sk-stand-in-{n}"
        event_id = server.send_one(
            "e2e/ai-infer",
            {
                "nonce": n,
                "base_url": f"{stand_in.url}/ai/ok/{n}/v1/",
                "api_key": key,
                "prompt": f"hello {n}",
            },
        )
        run = server.wait_for_run(event_id)
        assert run.status == "Completed", run.output

        sent = {
            "messages": [{"role": "user", "content": f"hello {n}"}],
            "temperature": 0,
            "model": STAND_IN_MODEL,
        }
        # The step's result is the provider's JSON, as it answered.
        assert run.output == {"answer": chat_completion(n, sent)}
        # The server, not the SDK, made the call: the body as the SDK gave it, and the key.
        [request] = stand_in.requests(f"/ai/ok/{n}/")
        assert request.method == "POST"
        assert request.path == f"/ai/ok/{n}/v1/chat/completions"
        assert request.headers.get("authorization") == f"Bearer {key}"
        assert request.headers.get("content-type", "").startswith("application/json")
        assert request.json() == sent
        # One request planned the op, the next one got its result.
        calls = app.notes("ai-infer", run_id=run.run_id, what="call")
        assert [note.attempt for note in calls] == [0, 0]

    def test_ai_infer_provider_failure_is_retried_then_an_ai_gateway_error(
        self, stack: Stack, stand_in: StandIn
    ) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        event_id = server.send_one(
            "e2e/ai-infer",
            {
                "nonce": n,
                "base_url": f"{stand_in.url}/ai/fail/{n}/v1/",
                "api_key": f"sk-{n}",
                "prompt": "fail, please",
            },
        )
        run = server.wait_for_run(event_id)
        # The function caught the step's error and returned it.
        assert run.status == "Completed", run.output
        name, message = _step_error(run.output)
        assert name == "AIGatewayError"
        assert "Error making AI request" in message, message

        # retries: 1 — the provider was asked on attempts 0 and 1, and no more; then the SDK got
        # the step's error in a fresh request.
        assert len(stand_in.requests(f"/ai/fail/{n}/")) == 2
        calls = app.notes("ai-infer", run_id=run.run_id, what="call")
        assert [note.attempt for note in calls] == [0, 1, 0]

    # -- step.fetch: the Gateway op -------------------------------------------------------------

    @pytest.mark.parametrize("status", [202, 503])
    def test_fetch_is_made_by_the_server_and_the_function_sees_the_response(
        self, stack: Stack, stand_in: StandIn, status: int
    ) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        url = f"{stand_in.url}/fetch/{n}?status={status}"
        run = server.wait_for_run(server.send_one("e2e/fetch", {"nonce": n, "url": url}))
        assert run.status == "Completed", run.output
        # Status, headers and body as the endpoint answered: a 503 is the function's to
        # handle, not an error of the step.
        assert run.output == {"status": status, "body": f"POST hello {n}", "header": n}

        [request] = stand_in.requests(f"/fetch/{n}")
        assert request.method == "POST"
        assert request.query == {"status": str(status)}
        assert request.headers.get("x-e2e-nonce") == n
        assert request.headers.get("content-type") == "text/plain"
        assert request.body == f"hello {n}".encode()
        calls = app.notes("fetch", run_id=run.run_id, what="call")
        assert [note.attempt for note in calls] == [0, 0]

    def test_fetch_transport_error_is_retried_then_a_gateway_error(self, stack: Stack) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        url = f"http://{LOOPBACK}:{free_port()}/nobody-listens"
        run = server.wait_for_run(server.send_one("e2e/fetch", {"nonce": n, "url": url}))
        assert run.status == "Completed", run.output
        name, message = _step_error(run.output)
        assert name == "GatewayError"
        assert "Error making gateway request" in message, message
        # retries: 1 — two attempts at the request, then the step's error.
        calls = app.notes("fetch", run_id=run.run_id, what="call")
        assert [note.attempt for note in calls] == [0, 1, 0]

    # -- step.waitForSignal and POST /v1/signals ------------------------------------------------

    def test_signal_nobody_waits_for_is_404(self, stack: Stack) -> None:
        response = stack.server.signal(f"e2e-nobody-{nonce()}", {"x": 1})
        assert response.status_code == 404, response.text

    def test_signal_resumes_the_waiting_run_with_its_data(self, stack: Stack) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        name = f"e2e-signal-{n}"
        event_id = server.send_one("e2e/signal", {"nonce": n, "signal": name, "timeout_s": 30})
        run = server.wait_for_run_started(event_id)
        # The SDK has been asked; the wait is saved once the server has its answer.
        app.wait_for_note("signal", run_id=run.run_id)
        data = {"nonce": n, "answer": 42, "nested": {"list": [1, "two", None]}}

        def delivered() -> httpx.Response | None:
            response = server.signal(name, data)
            return None if response.status_code == 404 else response

        response = wait_until(
            delivered, timeout=RUN_TIMEOUT, interval=0.3, what=f"signal {name} to find its run"
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"data": {"run_id": run.run_id}}

        final = server.wait_for_run_end(run.run_id)
        assert final.status == "Completed", final.output
        assert final.output == {"got": {"signal": name, "data": data}}
        # The wait was used up: nobody waits for that signal now.
        assert server.signal(name, data).status_code == 404

    def test_signal_wait_times_out_with_null(self, stack: Stack) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        event_id = server.send_one(
            "e2e/signal", {"nonce": n, "signal": f"e2e-never-{n}", "timeout_s": 2}
        )
        run = server.wait_for_run(event_id)
        assert run.status == "Completed", run.output
        assert run.output == {"got": None}
        calls = app.notes("signal", run_id=run.run_id, what="call")
        assert len(calls) == 2, calls
        assert calls[1].t - calls[0].t >= 1.9, calls

    # -- parallelMode "race" (§5.7) -------------------------------------------------------------

    def test_race_completes_with_the_first_result(self, stack: Stack) -> None:
        server, app = stack.server, stack.app
        n = nonce()
        run = server.wait_for_run(server.send_one("e2e/race", {"nonce": n, "slow_ms": 2000}))
        assert run.status == "Completed", run.output
        assert run.output == {"winner": "fast"}

        # The slow step still ran to its end, once, and did not disturb the finished run.
        slow = app.wait_for_note("race", run_id=run.run_id, what="step:slow")
        [fast] = app.notes("race", run_id=run.run_id, what="step:fast")
        [slow_start] = app.notes("race", run_id=run.run_id, what="step:slow:start")
        assert fast.t < slow.t
        assert slow.t - slow_start.t >= 1.9, (slow_start, slow)
        after = server.get_run(run.run_id)
        assert (after.status, after.output) == ("Completed", {"winner": "fast"})
        # Each step was called once; while the slow one ran, the server waited on it instead of
        # calling it again. Discovery: the plan, after the fast step, after the slow one.
        calls = app.wire().calls_of(run.run_id)
        assert {call.status for call in calls} <= {200, 206}, calls
        targeted = sorted(call.step_id or "" for call in calls if call.step_id != "step")
        assert targeted == sorted([sha1("fast"), sha1("slow")]), calls
        assert [call.step_id for call in calls].count("step") == 3, calls
