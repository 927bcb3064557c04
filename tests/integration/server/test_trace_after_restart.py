"""A run's trace is kept with the run: after a restart on the same database it still names
its steps as written, with their kinds and their failed attempts."""

from __future__ import annotations

from typing import Any

from stepwell.ports.records import SpanKind, SpanStatus
from tests.integration.server.conftest import FIRST, WAIT, shop_functions
from tests.integration.server.harness import FakeSdk, Server, running_sdk, running_server
from tests.integration.server.test_gql import finished_run
from tests.waiting import eventually

TRACE_QUERY = """
query Trace($run_id: String!) {
  runTrace(runID: $run_id) {
    name status
    childrenSpans { name stepOp attempts status stepID startedAt endedAt }
  }
}
"""


async def _children(server: Server, run_id: str) -> list[dict[str, Any]]:
    spans: list[dict[str, Any]] = (await server.gql(TRACE_QUERY, {"run_id": run_id}))["runTrace"][
        "childrenSpans"
    ]
    return spans


async def test_a_trace_survives_a_restart(db_url: str) -> None:
    async with (
        running_server(db_url, retry_interval_s=0.0) as server,
        running_sdk(FakeSdk("shop", shop_functions()), server.url) as sdk,
    ):
        await sdk.sync()
        _, flaky = await finished_run(server, {"name": "shop/flaky"}, "Completed")
        [event_id] = await server.send({"name": "shop/waits"})
        [waiting] = await server.runs_of(event_id)

        async def waits() -> bool:
            return [s["status"] for s in await _children(server, waiting)] == ["WAITING"]

        await eventually(waits, what="the run waits")
        before = {run_id: await _children(server, run_id) for run_id in (flaky, waiting)}

    # A new process on the same database; the app is not even running any more.
    async with running_server(db_url) as restarted:
        after = {run_id: await _children(restarted, run_id) for run_id in (flaky, waiting)}
        assert after == before
        [step] = after[flaky]
        assert (step["name"], step["stepOp"], step["status"], step["attempts"]) == (
            "first step",
            "RUN",
            "COMPLETED",
            1,
        )
        assert step["stepID"] == FIRST
        assert step["startedAt"] <= step["endedAt"]
        [wait] = after[waiting]
        assert (wait["name"], wait["stepOp"], wait["status"], wait["stepID"]) == (
            "wait",
            "WAIT_FOR_EVENT",
            "WAITING",
            WAIT,
        )
        # Each attempt is kept, the failed one with its error.
        spans = await restarted.runtime.engine.history.run_trace(flaky)
        assert [(s.name, s.kind, s.attempt, s.status) for s in spans] == [
            ("first step", SpanKind.RUN, 0, SpanStatus.ERRORED),
            ("first step", SpanKind.RUN, 1, SpanStatus.COMPLETED),
        ]
        assert spans[0].error is not None
        assert spans[0].error["message"] == "not yet"
        assert spans[1].error is None
