"""Flow control in server mode: apps on the official SDKs get the rules of protocol.md §3.4.2.

Two apps define the same functions, one per rule, each configured through its SDK's own API:
``apps/py_flow_app.py`` (inngest 0.5.19, FastAPI) and ``apps/ts/flow_app.mjs`` (inngest 4.24.0,
Node's http server), both with app id ``flowapp``. A module-scoped ``stack`` runs one of them and
``stepwell dev`` syncing it; every test runs once per SDK and checks what actually happened:
the runs the server made (``/v1/events/{id}/runs``) and when the app ran their step bodies (the
app's ``GET /e2e/log``). The expectations are the ones the embedded-mode tests hold our own SDK
to (tests/integration/engine/test_flow_control.py).

Tests share one server and app per SDK, so each one keys its events by a nonce. Every wait is
bounded; the only fixed windows check that something does *not* happen (``stays``).
"""

from __future__ import annotations

import dataclasses
import itertools
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.harness import (
    APPS_DIR,
    LOOPBACK,
    PY,
    TS,
    TS_APP_DIR,
    Note,
    Run,
    Sdk,
    Stack,
    StepwellDev,
    as_list,
    as_obj,
    as_str,
    nonce,
    start_stack,
    stays,
    wait_until,
)

FLOW_APP_ID = "flowapp"
PY_FLOW_APP = APPS_DIR / "py_flow_app.py"
TS_FLOW_APP = TS_APP_DIR / "flow_app.mjs"

# The functions both apps define (ids local to the app; the server lists "flowapp-<id>").
FUNCTION_IDS = (
    "concurrency",
    "throttle",
    "rate-limit",
    "idempotency",
    "debounce",
    "batch",
    "priority",
    "singleton-skip",
    "singleton-cancel",
    "cancel",
    "timeout-start",
    "timeout-finish",
)

# A bound on waiting for runs in these tests: everything here ends within a few seconds.
WAIT = 15.0


class FlowSdk(Sdk):
    """An official SDK, running its flow-control app instead of the conformance app."""

    def command(self, port: int) -> list[str]:
        if self.name == "py":
            return [sys.executable, str(PY_FLOW_APP), "--host", LOOPBACK, "--port", str(port)]
        node = shutil.which("node")
        assert node is not None, "node is not on PATH"
        return [node, str(TS_FLOW_APP)]


def _flow_sdk(sdk: Sdk) -> FlowSdk:
    fields: dict[str, Any] = {
        field.name: getattr(sdk, field.name) for field in dataclasses.fields(sdk)
    }
    return FlowSdk(**fields)


FLOW_PY = _flow_sdk(PY)
FLOW_TS = _flow_sdk(TS)


@pytest.fixture(scope="module", params=[FLOW_PY, FLOW_TS], ids=lambda sdk: str(sdk.name))
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The flow app on one SDK and ``stepwell dev`` syncing it (both SDKs, one after the other)."""
    sdk: FlowSdk = request.param
    if sdk.name == "ts":
        request.getfixturevalue("ts_app_installed")  # node + npm ci, or a skip (a failure in CI)
    slugs = [f"{FLOW_APP_ID}-{fn}" for fn in FUNCTION_IDS]
    with start_stack(sdk, tmp_path_factory.mktemp(f"flow-{sdk.name}"), slugs) as started:
        yield started


# --------------------------------------------------------------------------------------------
# Helpers


def send(server: StepwellDev, name: str, datas: Sequence[Mapping[str, object]]) -> list[str]:
    """Send the events in one request; returns their internal ids, in order."""
    return server.send([{"name": name, "data": dict(data)} for data in datas])


def ended_runs(
    server: StepwellDev, event_ids: Sequence[str], *, timeout: float = WAIT
) -> dict[str, Run]:
    """Wait until each event has exactly one run and it has ended; the runs by event id."""
    last: dict[str, list[Run]] = {}

    def ended() -> dict[str, Run] | None:
        server.process.check_alive()
        last.clear()
        last.update({event_id: server.runs_of_event(event_id) for event_id in event_ids})
        if all(len(runs) == 1 and runs[0].ended for runs in last.values()):
            return {event_id: runs[0] for event_id, runs in last.items()}
        return None

    return wait_until(
        ended,
        timeout=timeout,
        what=f"one ended run for each of {len(event_ids)} event(s)",
        context=lambda: f"last seen: {last}",
    )


def no_runs(server: StepwellDev, event_ids: Sequence[str], *, seconds: float, what: str) -> None:
    """Assert that none of the events gets a run for ``seconds``."""
    stays(
        lambda: not any(server.runs_of_event(event_id) for event_id in event_ids),
        seconds=seconds,
        what=what,
    )


def output(run: Run) -> dict[str, object]:
    return as_obj(run.output, f"output of run {run.run_id}")


def max_in_flight(notes: Sequence[Note], label: str | None = None) -> int:
    """The most step bodies that were running at once, from their ``<label>:start``/``:end``
    notes (any label when None). An end at the same instant as a start counts first."""
    changes: list[tuple[float, int]] = []
    for note in notes:
        name, _, edge = note.what.rpartition(":")
        if label is not None and name != label:
            continue
        if edge == "start":
            changes.append((note.t, 1))
        elif edge == "end":
            changes.append((note.t, -1))
    running = peak = 0
    for _, change in sorted(changes):
        running += change
        peak = max(peak, running)
    return peak


def server_time(run: Run, field: str) -> float:
    """A timestamp of the run as the server reports it (ISO 8601), in seconds."""
    return datetime.fromisoformat(as_str(run.raw.get(field), f"run.{field}")).timestamp()


# --------------------------------------------------------------------------------------------
# Concurrency, throttle, rate limit, idempotency


def test_concurrency_limits_step_bodies_in_flight_per_key(stack: Stack) -> None:
    """Limit 2 per key: under load each key has exactly 2 in flight, never more, and a busy key
    does not hold another one back (the keys run side by side)."""
    tag = nonce()
    busy, other = f"{tag}-busy", f"{tag}-other"
    datas = [{"nonce": tag, "k": busy, "hold_s": 0.4} for _ in range(6)]
    datas += [{"nonce": tag, "k": other, "hold_s": 0.4} for _ in range(3)]
    ids = send(stack.server, "flow/concurrency", datas)

    runs = ended_runs(stack.server, ids)
    assert {run.status for run in runs.values()} == {"Completed"}
    notes = stack.app.notes("concurrency", nonce=tag)
    assert len([n for n in notes if n.what.endswith(":end")]) == 9, notes
    assert max_in_flight(notes, f"work:{busy}") == 2
    assert max_in_flight(notes, f"work:{other}") == 2
    # Per key, not per function: more than 2 bodies ran at once across the two keys.
    assert max_in_flight(notes) > 2


def test_throttle_delays_starts_per_gcra_and_drops_none(stack: Stack) -> None:
    """limit 2 / 2 s, burst 1: limit + burst start at once, then one every period / limit."""
    tag = nonce()
    ids = send(stack.server, "flow/throttle", [{"nonce": tag, "n": n} for n in range(6)])

    runs = ended_runs(stack.server, ids)
    numbers = sorted(int(str(output(run)["n"])) for run in runs.values())
    assert numbers == list(range(6))  # none dropped
    starts = sorted(note.t for note in stack.app.notes("throttle", what="start", nonce=tag))
    assert len(starts) == 6
    offsets = [t - starts[0] for t in starts]
    expected = [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]
    for offset, due in zip(offsets, expected, strict=True):
        # Never before its time (bar clock jitter between app and server), and not much later.
        assert due - 0.2 <= offset <= due + 0.8, f"starts at {offsets}, expected {expected}"
    for earlier, later in itertools.pairwise(offsets[2:]):
        assert later - earlier >= 0.8, f"throttled starts closer than 1 s apart: {offsets}"


def test_rate_limit_drops_the_excess_and_keeps_the_events(stack: Stack) -> None:
    """2 per 30 s per key: of 5 events of one key 2 run, 3 are dropped; the other key runs."""
    tag = nonce()
    datas = [{"nonce": tag, "key": f"{tag}-a", "n": n} for n in range(5)]
    datas.append({"nonce": tag, "key": f"{tag}-b", "n": 5})
    ids = send(stack.server, "flow/rate-limit", datas)

    admitted = [ids[0], ids[1], ids[5]]
    runs = ended_runs(stack.server, admitted)
    assert [output(runs[i])["n"] for i in admitted] == [0, 1, 5]
    assert {runs[i].status for i in admitted} == {"Completed"}
    no_runs(stack.server, ids[2:5], seconds=1.0, what="the 3 rate-limited events to stay runless")
    stored = {event.internal_id for event in stack.server.events("flow/rate-limit")}
    assert set(ids) <= stored  # dropped runs, kept events
    assert len(stack.app.notes("rate-limit", nonce=tag)) == 3


def test_idempotency_expression_runs_once_per_key(stack: Stack) -> None:
    tag = nonce()
    x, y = f"{tag}-x", f"{tag}-y"
    first = send(
        stack.server,
        "flow/idempotency",
        [{"nonce": tag, "order": x, "n": 0}, {"nonce": tag, "order": y, "n": 1}],
    )
    repeats = send(
        stack.server,
        "flow/idempotency",
        [{"nonce": tag, "order": order, "n": n} for n, order in ((2, x), (3, x), (4, y))],
    )

    runs = ended_runs(stack.server, first)
    assert [output(runs[i])["n"] for i in first] == [0, 1]
    no_runs(stack.server, repeats, seconds=1.0, what="repeated idempotency keys to stay runless")
    assert len(stack.app.notes("idempotency", nonce=tag)) == 2


# --------------------------------------------------------------------------------------------
# Debounce, batching, priority


def test_debounce_runs_once_with_the_last_event_per_key(stack: Stack) -> None:
    """period 2 s per key: a second event within the period restarts it and replaces the first;
    another key has its own debounce."""
    tag = nonce()
    a, b = f"{tag}-a", f"{tag}-b"
    [a1, b1] = send(
        stack.server,
        "flow/debounce",
        [{"nonce": tag, "key": a, "i": 1}, {"nonce": tag, "key": b, "i": 10}],
    )
    no_runs(stack.server, [a1, b1], seconds=1.2, what="no debounced run within the period")
    a2_sent = time.time()
    [a2] = send(stack.server, "flow/debounce", [{"nonce": tag, "key": a, "i": 2}])

    runs = ended_runs(stack.server, [a2, b1])
    assert output(runs[a2]) == {"i": 2, "events": 1}
    assert output(runs[b1]) == {"i": 10, "events": 1}
    assert stack.server.runs_of_event(a1) == []  # replaced by the later event of its key
    by_run = {note.run_id: note.t for note in stack.app.notes("debounce", nonce=tag)}
    assert set(by_run) == {runs[a2].run_id, runs[b1].run_id}  # one run per key, no more
    # a's period restarted with a2: its run came a period after a2, not after a1 (0.8 s).
    assert by_run[runs[a2].run_id] - a2_sent >= 1.8


def test_batches_hold_at_most_max_size_events_of_one_key(stack: Stack) -> None:
    """maxSize 3, timeout 2 s, keyed by group: a full batch runs at once, the rest when the
    timeout ends; every event is in exactly one batch, in the order sent."""
    tag = nonce()
    g1, g2 = f"{tag}-g1", f"{tag}-g2"
    order = [(g1, 0), (g2, 0), (g1, 1), (g1, 2), (g2, 1), (g1, 3), (g1, 4)]
    ids = send(stack.server, "flow/batch", [{"nonce": tag, "group": g, "i": i} for g, i in order])

    runs = ended_runs(stack.server, ids)
    batches = {run.run_id: output(run) for run in runs.values()}
    assert {run.status for run in runs.values()} == {"Completed"}
    contents = sorted(
        (as_str(as_list(batch["groups"])[0]), as_list(batch["values"]))
        for batch in batches.values()
    )
    assert contents == sorted([(g1, [0, 1, 2]), (g1, [3, 4]), (g2, [0, 1])])
    for batch in batches.values():
        groups = as_list(batch["groups"])
        assert len(groups) <= 3, batch
        assert len(set(groups)) == 1, batch
    assert len(stack.app.notes("batch", nonce=tag)) == 3


def test_priority_orders_runs_waiting_for_the_only_slot(stack: Stack) -> None:
    """Concurrency 1: while a run holds the slot, three arrive with priorities 0, 100, 200;
    they run highest priority first."""
    tag = nonce()
    [blocker] = send(stack.server, "flow/priority", [{"nonce": tag, "n": 0, "p": 0, "hold_s": 1.0}])
    stack.app.wait_for_note("priority", what="work:0:start", nonce=tag, timeout=WAIT)
    waiting = send(
        stack.server,
        "flow/priority",
        [{"nonce": tag, "n": n, "p": p, "hold_s": 0.05} for n, p in ((1, 0), (2, 100), (3, 200))],
    )

    runs = ended_runs(stack.server, [blocker, *waiting])
    assert {run.status for run in runs.values()} == {"Completed"}
    notes = stack.app.notes("priority", nonce=tag)
    order = [note.what.split(":")[1] for note in notes if note.what.endswith(":start")]
    assert order == ["0", "3", "2", "1"]
    assert max_in_flight(notes) == 1


# --------------------------------------------------------------------------------------------
# Singleton, cancellation, timeouts


def test_singleton_skip_drops_runs_while_one_is_active(stack: Stack) -> None:
    tag = nonce()
    key = f"{tag}-k"
    [first] = send(
        stack.server, "flow/singleton-skip", [{"nonce": tag, "key": key, "n": 0, "sleep_s": 2}]
    )
    running = stack.server.wait_for_run_started(first, timeout=WAIT)
    stack.app.wait_for_note("singleton-skip", run_id=running.run_id, what="begin", timeout=WAIT)
    [skipped] = send(
        stack.server, "flow/singleton-skip", [{"nonce": tag, "key": key, "n": 1, "sleep_s": 1}]
    )

    done = ended_runs(stack.server, [first])[first]
    assert (done.status, output(done)) == ("Completed", {"n": 0})
    assert stack.server.runs_of_event(skipped) == []  # skipped while the first was active
    [later] = send(
        stack.server, "flow/singleton-skip", [{"nonce": tag, "key": key, "n": 2, "sleep_s": 1}]
    )
    again = ended_runs(stack.server, [later])[later]
    assert (again.status, output(again)) == ("Completed", {"n": 2})  # nothing active any more
    assert stack.server.runs_of_event(skipped) == []


def test_singleton_cancel_replaces_the_active_run(stack: Stack) -> None:
    tag = nonce()
    key = f"{tag}-k"
    [first] = send(
        stack.server, "flow/singleton-cancel", [{"nonce": tag, "key": key, "n": 0, "sleep_s": 30}]
    )
    old = stack.server.wait_for_run_started(first, timeout=WAIT)
    stack.app.wait_for_note("singleton-cancel", run_id=old.run_id, what="begin", timeout=WAIT)
    [second] = send(
        stack.server, "flow/singleton-cancel", [{"nonce": tag, "key": key, "n": 1, "sleep_s": 1}]
    )

    runs = ended_runs(stack.server, [first, second])
    assert runs[first].status == "Cancelled"
    assert (runs[second].status, output(runs[second])) == ("Completed", {"n": 1})
    assert stack.app.notes("singleton-cancel", run_id=old.run_id, what="end") == []


def test_cancel_on_event_with_if_cancels_only_the_matching_run(stack: Stack) -> None:
    tag = nonce()
    a, b = f"{tag}-a", f"{tag}-b"
    [ea, eb] = send(
        stack.server,
        "flow/cancel",
        [
            {"nonce": tag, "order": a, "n": 0, "sleep_s": 30},
            {"nonce": tag, "order": b, "n": 1, "sleep_s": 2},
        ],
    )
    run_a = stack.server.wait_for_run_started(ea, timeout=WAIT)
    run_b = stack.server.wait_for_run_started(eb, timeout=WAIT)
    for run in (run_a, run_b):
        stack.app.wait_for_note("cancel", run_id=run.run_id, what="begin", timeout=WAIT)
    # A cancel event whose `if` matches no run cancels nothing; the matching one cancels a.
    send(stack.server, "flow/cancel.stop", [{"nonce": tag, "order": f"{tag}-none"}])
    send(stack.server, "flow/cancel.stop", [{"nonce": tag, "order": a}])

    runs = ended_runs(stack.server, [ea, eb])
    assert runs[ea].status == "Cancelled"
    assert (runs[eb].status, output(runs[eb])) == ("Completed", {"n": 1})
    assert stack.app.notes("cancel", run_id=run_a.run_id, what="end") == []
    assert len(stack.app.notes("cancel", run_id=run_b.run_id, what="end")) == 1
    stack.server.wait_for_event(
        "inngest/function.cancelled",
        lambda event: event.data.get("run_id") == run_a.run_id,
        timeout=WAIT,
        what=f"inngest/function.cancelled for run {run_a.run_id}",
    )


def test_timeouts_start_cancels_a_run_still_waiting_to_start(stack: Stack) -> None:
    """Concurrency 1 and timeouts.start 2 s: a run queued behind a 3.5 s step is cancelled
    at 2 s, before it ever starts; the run holding the slot is not affected."""
    tag = nonce()
    [holder] = send(stack.server, "flow/timeout-start", [{"nonce": tag, "n": 0, "hold_s": 3.5}])
    stack.app.wait_for_note("timeout-start", what="work:0:start", nonce=tag, timeout=WAIT)
    [queued] = send(stack.server, "flow/timeout-start", [{"nonce": tag, "n": 1, "hold_s": 0}])

    timed_out = ended_runs(stack.server, [queued])[queued]
    assert timed_out.status == "Cancelled"
    assert not stack.server.runs_of_event(holder)[0].ended  # cancelled while still queued
    done = ended_runs(stack.server, [holder])[holder]
    assert (done.status, output(done)) == ("Completed", {"n": 0})
    stays(
        lambda: not stack.app.notes("timeout-start", run_id=timed_out.run_id),
        seconds=0.5,
        what="the timed-out run never to reach the app",
    )


def test_timeouts_finish_cancels_a_run_that_runs_too_long(stack: Stack) -> None:
    """timeouts.finish 2 s: a run that sleeps 3 s between its steps is cancelled at 2 s."""
    tag = nonce()
    [event] = send(stack.server, "flow/timeout-finish", [{"nonce": tag, "n": 0, "sleep_s": 3}])

    run = ended_runs(stack.server, [event])[event]
    assert run.status == "Cancelled"
    assert len(stack.app.notes("timeout-finish", run_id=run.run_id, what="begin")) == 1
    lasted = server_time(run, "ended_at") - server_time(run, "run_started_at")
    assert 1.9 <= lasted <= 4.0, f"cancelled {lasted:.2f}s after it started"
    stays(
        lambda: not stack.app.notes("timeout-finish", run_id=run.run_id, what="end"),
        seconds=1.5,
        what="the cancelled run's sleep never to lead to its last step",
    )
