"""A real ``stepwell dev`` process and an app on our SDK in another process: the start-up
banner, the sync line, one line per failed run with the user's traceback (text and JSON),
``GET /metrics``, the ``traceparent`` each call carries, and the server's spans over OTLP."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stepwell.core import trace_ids
from tests.e2e.harness import ManagedProcess, free_port, wait_until
from tests.otlp_receiver import OtlpReceiver

SRC = Path(__file__).resolve().parents[3] / "src"

APP = """
import os
import stepwell
from starlette.applications import Starlette
from starlette.routing import Mount

app = stepwell.App("shop")


tracer = None
if os.environ.get("APP_OTLP"):
    # The app's own OpenTelemetry set-up, as a user would write it: its spans go to the same
    # collector as the server's.
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=os.environ["APP_OTLP"] + "/v1/traces"))
    )
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("shop-app")


def charge_card(order):
    if tracer is not None:
        with tracer.start_as_current_span("ask the bank"):
            pass
    raise ValueError(f"card declined for order {order['id']}")


@app.function("charge", trigger=stepwell.on_event("shop/order.placed"), retries=1)
async def charge(ctx: stepwell.Context) -> None:
    await ctx.step.run("charge-card", charge_card, ctx.event.data)


served = stepwell.serve(app, is_dev=True, base_url=os.environ["SERVER_URL"])


async def recording(scope, receive, send):
    # Every call's traceparent, as the app received it.
    if scope["type"] == "http" and scope["method"] == "POST":
        headers = dict(scope["headers"])
        print("TRACEPARENT", headers.get(b"traceparent", b"-").decode(), flush=True)
    await served(scope, receive, send)


asgi = Starlette(routes=[Mount("/api/inngest", recording)])
"""


class Stack:
    def __init__(self, tmp_path: Path, log_format: str, otlp: str | None) -> None:
        self.port, app_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (tmp_path / "shop_app.py").write_text(textwrap.dedent(APP))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "STEPWELL_"))}
        env |= {"PYTHONPATH": str(SRC), "SERVER_URL": self.url}
        app_env = env if otlp is None else {**env, "APP_OTLP": otlp}
        self.app = ManagedProcess.start(
            "app",
            [sys.executable, "-m", "uvicorn", "shop_app:asgi", "--port", str(app_port)],
            env=app_env,
            cwd=tmp_path,
            log_path=tmp_path / "app.log",
        )
        if otlp is not None:
            env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp, "OTEL_BSP_SCHEDULE_DELAY": "50"}
        env |= {"STEPWELL_LOG_FORMAT": log_format}  # the variable, not the flag
        wait_until(
            lambda: _answers(f"http://127.0.0.1:{app_port}/api/inngest/"),
            timeout=30,
            what="the app",
        )
        self.server = ManagedProcess.start(
            "stepwell dev",
            [
                sys.executable,
                "-m",
                "stepwell",
                "dev",
                "--port",
                str(self.port),
                "--connect-port",
                str(free_port()),
                "--no-discovery",
                "--retry-interval",
                "0.05",
                "--database",
                f"sqlite:///{tmp_path / 'dev.db'}",
                "-u",
                f"http://127.0.0.1:{app_port}/api/inngest/",
            ],
            env=env,
            cwd=tmp_path,
            log_path=tmp_path / "server.log",
        )
        wait_until(lambda: "ready at" in self.server.log_tail(), timeout=30, what="the banner")

    def close(self) -> None:
        self.server.stop()
        self.app.stop()

    def fail_a_run(self) -> str:
        reply = httpx.post(
            f"{self.url}/e/key", json={"name": "shop/order.placed", "data": {"id": 7}}
        )
        [event_id] = reply.json()["ids"]

        def failed() -> str | None:
            runs = httpx.get(f"{self.url}/v1/events/{event_id}/runs").json()["data"]
            return runs[0]["run_id"] if runs and runs[0]["status"] == "Failed" else None

        return wait_until(failed, timeout=30, what="the run to fail")


def _with(text: str, needle: str) -> str | None:
    return text if needle in text else None


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    found = OtlpReceiver()
    found.start()
    yield found
    found.close()


def test_text_logs_metrics_traceparent_and_spans(tmp_path: Path, receiver: OtlpReceiver) -> None:
    endpoint = f"http://127.0.0.1:{receiver._server.server_address[1]}"
    stack = Stack(tmp_path, "text", endpoint)
    try:
        run_id = stack.fail_a_run()
        log = wait_until(
            lambda: _with(stack.server.log_tail(20000), "run failed"),
            timeout=20,
            what="the failure line",
        )
        metrics = httpx.get(f"{stack.url}/metrics")
        app_log = stack.app.log_tail(20000)
        wait_until(
            lambda: {"run shop-charge", "ask the bank"} <= {s.name for s in receiver.snapshot()},
            timeout=20,
            what="the run's span and the app's own",
        )
    finally:
        stack.close()
    print(log)
    banner = log[log.index("stepwell dev server ready at") :].splitlines()[:8]
    assert banner[0] == f"stepwell dev server ready at {stack.url}"
    assert banner[1].split() == ["mode", "dev", "(open:", "no", "keys", "needed)"]
    assert banner[2].startswith("  database   sqlite:///")
    assert banner[3] == f"  dashboard  {stack.url}/"
    assert banner[5] == "  apps       1 synced: shop (1 function)"
    assert banner[6] == f"  metrics    {stack.url}/metrics"
    assert banner[7] == "  traces     exported over OTLP"
    assert "INFO    stepwell.apps: synced app 'shop' from http://127.0.0.1:" in log
    assert f"retrying: function=shop-charge run={run_id} attempt=0" in log
    failure = log[log.index("ERROR   stepwell.runs: run failed") :]
    assert failure.startswith(
        f"ERROR   stepwell.runs: run failed: function=shop-charge run={run_id}"
    )
    assert "ValueError: card declined for order 7" in failure.splitlines()[0]
    trace = failure.splitlines()[1:4]
    assert trace[0] == "Traceback (most recent call last):"
    assert trace[1].endswith('shop_app.py", line 31, in charge_card'), trace
    assert "stepwell" not in "\n".join(failure.splitlines()[1:5])
    # Metrics.
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'stepwell_runs_ended_total{function="shop-charge",status="failed"} 1.0' in text
    assert 'stepwell_sdk_requests_total{status="5xx"}' in text
    assert 'stepwell_sdk_requests_total{status="2xx"}' in text
    assert 'stepwell_events_received_total{source="external"} 1.0' in text
    assert "stepwell_queue_due 0.0" in text
    # Every call to the app carried the run's trace, sampled since traces are exported.
    parents = [line.split()[1] for line in app_log.splitlines() if line.startswith("TRACEPARENT")]
    assert parents, app_log
    trace_hex = f"{trace_ids.trace_id(run_id):032x}"
    for header in parents:
        assert header.startswith(f"00-{trace_hex}-"), header
        assert header.endswith("-01"), header
    assert f"00-{trace_hex}-{trace_ids.run_span_id(run_id):016x}-01" in parents
    # And the server exported the run's trace: the root and a span per step attempt.
    in_run = [s for s in receiver.snapshot() if s.trace_id == trace_hex]
    outcomes = sorted(
        s.attributes["stepwell.step.outcome"] for s in in_run if "stepwell.step.id" in s.attributes
    )
    assert outcomes == ["errored", "failed"]
    # The app's own span, opened inside the step in the app's process, nests under the span
    # of the step attempt it ran in (both processes derive its id from the run and step).
    step_spans = {s.span_id for s in in_run if "stepwell.step.id" in s.attributes}
    user_spans = [s for s in receiver.snapshot() if s.name == "ask the bank"]
    assert user_spans
    assert all(s.trace_id == trace_hex for s in user_spans)
    assert {s.parent_span_id for s in user_spans} <= step_spans


def test_json_lines_carry_the_run_function_step_and_attempt(tmp_path: Path) -> None:
    stack = Stack(tmp_path, "json", None)
    try:
        run_id = stack.fail_a_run()
        text = wait_until(
            lambda: _with(stack.server.log_tail(20000), "run failed"),
            timeout=20,
            what="the failure line",
        )
    finally:
        stack.close()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    [banner] = [entry for entry in lines if entry["logger"] == "stepwell.server"]
    assert banner["message"] == f"stepwell dev server ready at {stack.url}"
    assert banner["app"] == ["shop"]
    [retry] = [entry for entry in lines if entry["message"].startswith("retrying:")]
    assert retry["level"] == "info"
    assert (retry["run_id"], retry["function"], retry["step"], retry["attempt"]) == (
        run_id,
        "shop-charge",
        "charge-card",
        0,
    )
    [failure] = [entry for entry in lines if entry["level"] == "error"]
    assert failure["run_id"] == run_id
    assert failure["function"] == "shop-charge"
    assert failure["message"].startswith("run failed: function=shop-charge")
    assert "in charge_card" in failure["traceback"]
    # Nothing in the server's output is anything but a JSON line.
    assert all(line.startswith("{") for line in text.splitlines() if line.strip()), text
