"""Embedded checkpointing survives SIGKILL: a step whose write was buffered runs again once.

One run of ``STEPS`` fast steps (``checkpointing_child.py``) is killed part-way, then run to
its end by a second process. What must hold:

* the run completes with the right output, every step stored once;
* no step whose result was committed at the kill ran again;
* the steps run twice are exactly those the killed process ran and had not committed: at most
  ``MAX_AHEAD`` buffered ones plus the one under way, each run again once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from stepwell.engine.step_buffer import MAX_AHEAD
from stepwell.protocol.step_ids import hash_step_id
from tests.integration.checkpointing_child import DONE_MARKER, STEPS

CHILD = Path(__file__).with_name("checkpointing_child.py")
STEP_OF_HASH = {hash_step_id(f"s{i}"): f"s{i}" for i in range(STEPS)}


def log_lines(log: Path) -> list[tuple[int, str]]:
    if not log.exists():
        return []
    text = log.read_text()
    text = text[: text.rfind("\n") + 1]
    return [(int(pid), step) for pid, step in (line.split(" ") for line in text.splitlines())]


def committed(db: Path) -> set[str]:
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute("SELECT step_hash FROM steps").fetchall()
    return {STEP_OF_HASH[h] for (h,) in rows}


def start(db: Path, log: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with out.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, str(CHILD), str(db), str(log), *extra],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )


@pytest.mark.slow
def test_buffered_steps_run_again_at_most_once_after_sigkill(tmp_path: Path) -> None:
    db, log = tmp_path / "stepwell.db", tmp_path / "effects.log"
    first = start(db, log, tmp_path / "first.out", "--send")
    try:
        deadline = time.monotonic() + 60
        while len(log_lines(log)) < STEPS // 3:
            assert first.poll() is None, (tmp_path / "first.out").read_text()
            assert time.monotonic() < deadline, "the first child ran too few steps in 60 s"
            time.sleep(0.001)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    at_kill = committed(db)
    ran_first = {step for pid, step in log_lines(log) if pid == first.pid}
    lost = ran_first - at_kill
    assert at_kill <= ran_first
    assert len(lost) <= MAX_AHEAD + 1, f"{len(lost)} finished steps were not committed"

    second = start(db, log, tmp_path / "second.out")
    assert second.wait(timeout=120) == 0, (tmp_path / "second.out").read_text()
    out = (tmp_path / "second.out").read_text()
    assert DONE_MARKER in out
    result = json.loads(out.split(DONE_MARKER, 1)[1])
    assert result == {"status": "Completed", "output": sum(range(STEPS))}

    lines = log_lines(log)
    ran_second = {step for pid, step in lines if pid == second.pid}
    every = {f"s{i}" for i in range(STEPS)}
    assert committed(db) == every
    assert ran_first | ran_second == every
    assert not ran_second & at_kill, "a step committed before the kill ran again"
    assert ran_second & ran_first == lost  # exactly the uncommitted ones ran again
    assert max(Counter(step for _, step in lines).values()) <= 2
    print(f"{len(ran_first)} run before the kill, {len(at_kill)} committed, {len(lost)} again")
