"""A run resumes after its process is SIGKILLed at any point, and no completed step runs again.

The child program (``crash_child.py``) runs ``RUNS`` concurrent runs of a function with ten
``step.run`` steps, a ``step.sleep`` and a parallel pair; every step body appends
``pid run_id step_id`` to a side-effect log. The test kills the child with SIGKILL at several
different points, and after each kill, with the process dead, snapshots the memo (the ``steps``
rows committed at that moment), then restarts it; the last child runs every run to the end.

What must hold:

* every run completes with the expected output, and no event (hence no run) is lost;
* every step body ran at least once;
* no step body that had completed (its result committed when its process was killed) ran again;
* the only repeated bodies are those in flight at a kill (logged, result not yet committed): at
  most one per run, or both halves of the parallel pair; with ``checkpointing=True`` also the
  steps whose writes were still buffered (at most ``MAX_AHEAD`` more), each run again once.

Only where the kills land depends on timing; every assertion holds wherever they land.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import pytest

from stepwell.engine.step_buffer import MAX_AHEAD
from stepwell.protocol.step_ids import hash_step_id
from tests.integration.crash_child import (
    DONE_MARKER,
    EVENT_NAME,
    FUNCTION_SLUG,
    PAIR,
    RUN_STEPS,
    SLEEP_ID,
    expected_output,
)

CHILD = Path(__file__).with_name("crash_child.py")
RUNS = 10
KILL_WAIT_SECONDS = 15.0
"""The most a child may take to reach the point where it is to be killed."""
FINISH_WAIT_SECONDS = 30.0
POLL_SECONDS = 0.001

STEP_OF_HASH = {hash_step_id(step_id): step_id for step_id in (*RUN_STEPS, SLEEP_ID)}

StepKey = tuple[str, str]
"""(run_id, user-facing step id)."""


@dataclass(frozen=True)
class Line:
    pid: int
    run_id: str
    step_id: str

    @property
    def key(self) -> StepKey:
        return (self.run_id, self.step_id)


def read_log(log: Path, *, settled: bool = True) -> list[Line]:
    """The side-effect lines; ``settled=False`` while a child may be in the middle of a write."""
    if not log.exists():
        return []
    text = log.read_text()
    if not settled:
        text = text[: text.rfind("\n") + 1]  # a reader can see half of an ongoing write
    assert not text or text.endswith("\n"), f"torn side-effect line: {text[-80:]!r}"
    lines = []
    for raw in text.splitlines():
        pid, run_id, step_id = raw.split(" ")
        assert step_id in RUN_STEPS, raw
        lines.append(Line(int(pid), run_id, step_id))
    return lines


def connect_read_only(db: Path) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10))


def committed_steps(db: Path) -> set[StepKey]:
    """The memo rows committed in the database: the steps whose results are durable."""
    with connect_read_only(db) as conn:
        rows = conn.execute("SELECT run_id, step_hash FROM steps").fetchall()
    return {(run_id, STEP_OF_HASH[step_hash]) for run_id, step_hash in rows}


def sleeping_runs(db: Path) -> int:
    """Runs whose sleep is committed and not yet over."""
    if not db.exists():
        return 0
    try:
        with connect_read_only(db) as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM queue WHERE kind = 'sleep' AND due_at > ?",
                (time.time_ns() // 1_000_000,),
            ).fetchone()
    except sqlite3.OperationalError:  # the child has not created its tables yet
        return 0
    return int(row[0])


@dataclass
class Probe:
    """What the test can see of a running child: its side effects, and the database."""

    db: Path
    lines: list[Line]
    pid: int

    @property
    def own(self) -> int:
        """Step bodies this process has run."""
        return sum(1 for line in self.lines if line.pid == self.pid)

    @property
    def distinct(self) -> int:
        """Distinct steps that have run, in any process."""
        return len({line.key for line in self.lines})

    def sleeping(self) -> int:
        return sleeping_runs(self.db)


@dataclass(frozen=True)
class KillPoint:
    where: str
    ready: Callable[[Probe], bool]


# Each process must have run at least one step body of its own before it is killed, so that
# every process makes progress; the thresholds spread the kills over the whole run.
KILL_POINTS = [
    KillPoint("early: after the first few step bodies", lambda p: p.distinct >= 5),
    KillPoint("before the sleep", lambda p: p.own >= 1 and p.distinct >= 23),
    KillPoint(
        # Falls back to a distinct count so that the test cannot hang if the sleeps are missed.
        "while runs sleep",
        lambda p: p.own >= 1 and (p.sleeping() > 0 or p.distinct >= 60),
    ),
    KillPoint("right after a restart: at the first step body", lambda p: p.own >= 1),
    KillPoint("after the sleep", lambda p: p.own >= 1 and p.distinct >= 65),
    KillPoint("near the end", lambda p: p.own >= 1 and p.distinct >= 80),
]


@dataclass
class Kill:
    pid: int
    where: str
    lines: int
    sleeping: int
    committed: set[StepKey] = field(default_factory=set)


@dataclass
class Children:
    db: Path
    log: Path
    out_dir: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    checkpointing: bool = False

    def start(self, *extra: str) -> subprocess.Popen[bytes]:
        n = len(self.procs)
        if self.checkpointing:
            extra = (*extra, "--checkpointing")
        with (
            (self.out_dir / f"child-{n}.out").open("wb") as out,
            (self.out_dir / f"child-{n}.err").open("wb") as err,
        ):
            proc = subprocess.Popen(
                [sys.executable, str(CHILD), str(self.db), str(self.log), *extra],
                stdout=out,
                stderr=err,
            )
        self.procs.append(proc)
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        n = self.procs.index(proc)
        out = (self.out_dir / f"child-{n}.out").read_text(errors="replace")
        err = (self.out_dir / f"child-{n}.err").read_text(errors="replace")
        return f"stdout:\n{out}\nstderr:\n{err}"

    def watch(
        self,
        proc: subprocess.Popen[bytes],
        committed: set[StepKey],
        until: KillPoint | None,
        timeout: float,
    ) -> None:
        """Poll until ``until`` is reached (or, without one, until the child exits).

        All along, check that the child runs no step whose result was already ``committed``
        when it started, so that a violation is reported as such, not as a hang.
        """
        deadline = time.monotonic() + timeout
        while True:
            probe = Probe(self.db, read_log(self.log, settled=False), proc.pid)
            rerun = sorted(
                line.key for line in probe.lines if line.pid == proc.pid and line.key in committed
            )
            assert not rerun, f"steps committed before this process started ran again: {rerun}"
            if until is not None and until.ready(probe):
                return
            if proc.poll() is not None:
                if until is None:
                    return
                pytest.fail(
                    f"child exited ({proc.returncode}) before being killed {until.where!r}\n"
                    + self.output(proc)
                )
            if time.monotonic() > deadline:
                goal = "to finish" if until is None else f"to reach {until.where!r}"
                pytest.fail(
                    f"child took over {timeout}s {goal} ({probe.own} step bodies run by it, "
                    f"{probe.distinct} distinct steps run in all)\n" + self.output(proc)
                )
            time.sleep(POLL_SECONDS)

    def kill_when(
        self, proc: subprocess.Popen[bytes], committed: set[StepKey], point: KillPoint
    ) -> Kill:
        self.watch(proc, committed, point, KILL_WAIT_SECONDS)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL, self.output(proc)
        # The process is dead: what the database holds now is exactly what it had committed.
        return Kill(
            pid=proc.pid,
            where=point.where,
            lines=len(read_log(self.log)),
            sleeping=sleeping_runs(self.db),
            committed=committed_steps(self.db),
        )

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("checkpointing", [False, True], ids=["each-step-on-disk", "checkpointing"])
def test_runs_survive_sigkill_and_completed_steps_never_run_again(
    tmp_path: Path, checkpointing: bool
) -> None:
    db, log = tmp_path / "stepwell.db", tmp_path / "side-effects.log"
    children = Children(db, log, tmp_path, checkpointing=checkpointing)
    kills: list[Kill] = []
    try:
        committed: set[StepKey] = set()
        for n, point in enumerate(KILL_POINTS):
            proc = children.start(*(["--send", str(RUNS)] if n == 0 else []))
            kills.append(children.kill_when(proc, committed, point))
            committed = kills[-1].committed
        last = children.start()
        children.watch(last, committed, None, FINISH_WAIT_SECONDS)
        assert last.returncode == 0, children.output(last)
        assert DONE_MARKER in children.output(last)
    finally:
        children.stop_all()

    pids = [proc.pid for proc in children.procs]
    print(check_recovery(db, log, pids, kills, buffered=MAX_AHEAD if checkpointing else 0))


def check_recovery(
    db: Path, log: Path, pids: list[int], kills: list[Kill], *, buffered: int = 0
) -> str:
    """Check the database and the side-effect log once the last child has finished.

    ``pids`` are the children in the order they ran, ``kills`` what was seen at each kill (one
    per child but the last); ``buffered``: how many finished steps a run may have had waiting
    for their write (checkpointing). Returns a summary of the kills.
    """
    assert len(set(pids)) == len(pids)
    assert len(kills) == len(pids) - 1
    process_of = {pid: n for n, pid in enumerate(pids)}
    lines = read_log(log)

    # -- no event lost; every run completed with the expected output ----------------------------
    with connect_read_only(db) as conn:
        events = conn.execute(
            "SELECT internal_id, body FROM events WHERE name = ?", (EVENT_NAME,)
        ).fetchall()
        runs = conn.execute(
            "SELECT r.run_id, r.status, r.output, e.event_id FROM runs r "
            "JOIN run_events e ON e.run_id = r.run_id WHERE r.function_id = ?",
            (FUNCTION_SLUG,),
        ).fetchall()
        memo = conn.execute("SELECT run_id, step_hash FROM steps").fetchall()
    assert len(events) == RUNS
    index_of_event = {event_id: json.loads(body)["data"]["i"] for event_id, body in events}
    assert sorted(index_of_event.values()) == list(range(RUNS))
    assert len(runs) == RUNS
    assert sorted(event_id for *_, event_id in runs) == sorted(index_of_event)
    for run_id, status, output, event_id in runs:
        assert status == "Completed", (run_id, status)
        assert json.loads(output) == expected_output(index_of_event[event_id]), run_id
    run_ids = {run_id for run_id, *_ in runs}
    every_step = {(run_id, step_id) for run_id in run_ids for step_id in RUN_STEPS}
    assert {(run_id, STEP_OF_HASH[h]) for run_id, h in memo} == every_step | {
        (run_id, SLEEP_ID) for run_id in run_ids
    }

    # -- every step body ran, in a known process, at most once per process ----------------------
    assert {line.key for line in lines} == every_step
    assert all(line.pid in process_of for line in lines)
    per_process = Counter((line.pid, line.key) for line in lines)
    assert max(per_process.values()) == 1, "a process ran a step body twice"

    # -- the memo only grows, and no step whose result was committed ran again ------------------
    for earlier, later in pairwise(kills):
        assert earlier.committed <= later.committed
    for line in lines:
        n = process_of[line.pid]
        if n > 0:
            killed = kills[n - 1]
            assert line.key not in killed.committed, (
                f"process {n} ran {line.key} again, but its result had been committed when "
                f"process {n - 1} was killed ({killed.where})"
            )

    # -- the only repeats are the bodies in flight at a kill -----------------------------------
    in_flight = [
        {line.key for line in lines if line.pid == kill.pid} - kill.committed for kill in kills
    ]
    for kill, steps in zip(kills, in_flight, strict=True):
        for run_id in run_ids:
            of_run = {step_id for r, step_id in steps if r == run_id}
            assert len(of_run) <= 1 + buffered or of_run <= set(PAIR), (
                f"run {run_id} had {sorted(of_run)} in flight when killed {kill.where!r}"
            )
        assert len(steps) <= (2 + buffered) * RUNS
    executions = Counter(line.key for line in lines)
    for key in every_step:
        # Each execution but the last was cut short by a kill, and the last one committed.
        interrupted = sum(1 for steps in in_flight if key in steps)
        assert executions[key] == 1 + interrupted, (key, executions[key], interrupted)
    duplicates = len(lines) - len(every_step)
    assert duplicates == sum(len(steps) for steps in in_flight)
    assert duplicates <= (2 + buffered) * RUNS * len(kills)
    return summarize(kills, lines)


def summarize(kills: list[Kill], lines: list[Line]) -> str:
    rows = [f"{len(kills)} kills, {len(lines)} step bodies run for {RUNS * len(RUN_STEPS)} steps"]
    for n, kill in enumerate(kills):
        own = {line.key for line in lines if line.pid == kill.pid}
        rows.append(
            f"  kill {n} ({kill.where}): {kill.lines} lines, {len(kill.committed)} memo rows, "
            f"{kill.sleeping} runs asleep, {len(own - kill.committed)} bodies in flight"
        )
    return "\n".join(rows)
