"""OpenTelemetry traces of an embedded app, exported over OTLP/HTTP to a real receiver on
loopback (decoded with the OTLP protobuf definitions). The app runs in a fresh interpreter:
the tracer provider, like the ``OTEL_*`` settings it reads, belongs to a whole process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.waiting import eventually

SRC = Path(__file__).resolve().parents[3] / "src"

PROGRAM = """
import asyncio, sys
from opentelemetry import trace
import stepwell

app = stepwell.App("traced")
tries = []

def flaky():
    tries.append(1)
    with trace.get_tracer("user-code").start_as_current_span("user work"):
        if len(tries) == 1:
            raise RuntimeError("first try fails")
    return len(tries)

@app.function("flow", trigger=stepwell.on_event("traced/go"), retries=2)
async def flow(ctx: stepwell.Context) -> int:
    first = await ctx.step.run("flaky", flaky)
    await ctx.step.sleep("pause", "10ms")
    return first

async def main() -> None:
    async with app.embedded(sys.argv[1], retry_interval=0.01) as engine:
        [event_id] = await engine.send("traced/go", {})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        print(run.run_id, event_id, run.status, flush=True)
    assert "stepwell.telemetry.otel" in sys.modules

asyncio.run(main())
"""


def _run_program(tmp_path: Path, endpoint: str | None) -> tuple[str, str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(SRC)
    if endpoint is not None:
        env |= {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_SERVICE_NAME": "traced-test",
            "OTEL_BSP_SCHEDULE_DELAY": "50",
        }
    program = (
        PROGRAM
        if endpoint
        else PROGRAM.replace(
            'assert "stepwell.telemetry.otel" in sys.modules',
            'assert "stepwell.telemetry.otel" not in sys.modules\n'
            '    assert "opentelemetry.sdk" not in sys.modules',
        )
        .replace("from opentelemetry import trace\n", "")
        .replace(
            '    with trace.get_tracer("user-code").start_as_current_span("user work"):\n'
            "        if len(tries) == 1:",
            "    if len(tries) == 1:",
        )
    )
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(program), f"sqlite:///{tmp_path / 'db.sqlite'}"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    run_id, event_id, status = done.stdout.split()
    return run_id, event_id, [status]


async def test_one_trace_per_run_with_a_span_per_step_attempt(tmp_path: Path) -> None:
    receiver = OtlpReceiver()
    endpoint = receiver.start()
    try:
        run_id, event_id, [status] = _run_program(tmp_path, endpoint)
        assert status == "Completed"

        def spans() -> list[ReceivedSpan]:
            return receiver.snapshot()

        # Flushed when the engine stopped; the bound is for the receiver's thread.
        await eventually(lambda: any(s.name.startswith("run ") for s in spans()), timeout=20)
    finally:
        receiver.close()
    received = spans()
    [root] = [s for s in received if s.name == "run traced-flow"]
    assert root.parent_span_id == ""
    assert root.attributes["stepwell.run_id"] == run_id
    assert root.attributes["stepwell.run.status"] == "Completed"
    assert root.service == "traced-test"
    in_run = [s for s in received if s.trace_id == root.trace_id]
    steps = sorted(
        (s for s in in_run if "stepwell.step.id" in s.attributes),
        key=lambda s: (s.start_ns, s.end_ns),
    )
    assert [(s.name, s.attributes["stepwell.step.outcome"]) for s in steps] == [
        ("run flaky", "errored"),
        ("run flaky", "completed"),
        ("sleep pause", "completed"),
    ]
    for span in steps:
        assert span.parent_span_id == root.span_id
        assert span.attributes["stepwell.function"] == "traced-flow"
        assert span.attributes["stepwell.run_id"] == run_id
        assert span.attributes["stepwell.step.kind"] in ("run", "sleep")
        assert isinstance(span.attributes["stepwell.step.queue_delay_ms"], int)
    assert [s.attributes["stepwell.step.attempt"] for s in steps[:2]] == [0, 1]
    assert steps[0].status_code == 2  # STATUS_CODE_ERROR
    # The user's spans nest under the attempt of the step that ran them.
    user = sorted((s for s in in_run if s.name == "user work"), key=lambda s: s.start_ns)
    assert [s.parent_span_id for s in user] == [steps[0].span_id, steps[1].span_id]
    # The run links to the event that started it, whose span is exported too.
    [event] = [s for s in received if s.name == "event traced/go"]
    assert event.attributes["stepwell.event.id"] == event_id
    assert root.links == [(event.trace_id, event.span_id)]


def test_without_otel_variables_nothing_of_opentelemetry_is_imported(tmp_path: Path) -> None:
    _, _, [status] = _run_program(tmp_path, None)
    assert status == "Completed"
