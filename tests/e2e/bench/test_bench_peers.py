"""Smoke tests of two benchmark peers in their quick modes: they start and print figures.

Restate (bench/over_http.py: restate-server from bench/restate's npm lock, a restate-sdk
service on hypercorn) and DBOS in WAL mode (bench/dbos_peer.py). The figures themselves are
not checked: this machine's load makes them meaningless in a test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}


@pytest.mark.timeout(180)
def test_the_restate_peer_starts_and_measures() -> None:
    binary = ROOT / "bench" / "restate" / "node_modules"
    if not binary.exists() and shutil.which("npm") is None:
        pytest.skip("npm is needed to install restate-server")
    done = subprocess.run(
        [sys.executable, "-m", "bench.over_http", "--quick", "--no-ingest", "--peers", "restate"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("Restate 1.7")]
    assert len(rows) == 2, done.stdout
    for row in rows:
        # After the 36-character label: p50, p95, steps/s, server CPU, app CPU.
        numbers = [float(x) for x in re.findall(r"\d+\.\d+", row[36:])]
        assert len(numbers) == 5, row
        assert numbers[2] > 0, row


@pytest.mark.timeout(120)
def test_the_dbos_peer_runs_in_wal_mode(tmp_path: Path) -> None:
    pytest.importorskip("dbos")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "dbos_peer.py"),
            "--workdir",
            str(tmp_path),
            "--quick",
            "--journal",
            "wal",
        ],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["journal"] == "wal"
    assert result["concurrent_steps_per_s"] > 0
