"""The PostgreSQL example: three worker processes on one fresh database (made and dropped by the
``pg_url`` fixture) each submit ten jobs; every job completes, each in one run, and the workers
stop cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import psycopg

from tests.e2e.examples.served import REPO
from tests.e2e.harness import ManagedProcess, wait_until

WORKERS, JOBS_EACH = 3, 10


def _statuses(pg_url: str) -> Counter[str]:
    """Runs by status; none before the first worker has created the tables."""
    with psycopg.connect(pg_url, connect_timeout=5) as conn:
        try:
            rows = conn.execute("SELECT status FROM runs").fetchall()
        except psycopg.errors.UndefinedTable:
            return Counter()
        return Counter(str(status) for (status,) in rows)


def test_three_workers_share_the_jobs_of_one_database(pg_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INNGEST_", "STEPWELL_"))}
    env.update({"PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src")])})
    workers = [
        ManagedProcess.start(
            f"worker {i}",
            [
                sys.executable,
                "-m",
                "examples.pg_scale_out.worker",
                "--database",
                pg_url,
                "--send",
                str(JOBS_EACH),
                "--first-job",
                str(i * JOBS_EACH),
            ],
            env=env,
            cwd=REPO,
            log_path=tmp_path / f"worker-{i}.log",
        )
        for i in range(WORKERS)
    ]

    def logs() -> str:
        return "\n".join(w.describe() for w in workers) + f"\nruns: {_statuses(pg_url)}"

    try:

        def all_completed() -> bool:
            for worker in workers:
                worker.check_alive()
            return _statuses(pg_url) == Counter({"Completed": WORKERS * JOBS_EACH})

        wait_until(all_completed, timeout=45, what="every job completed", context=logs)
        with psycopg.connect(pg_url) as conn:
            outputs = [row[0] for row in conn.execute("SELECT output FROM runs").fetchall()]
        assert len(outputs) == WORKERS * JOBS_EACH
        started_by = {json.loads(str(output))["started_by"] for output in outputs}
        assert len(started_by) == WORKERS, started_by  # each worker ran the jobs it sent
    finally:
        for worker in workers:
            worker.stop()
    assert all(w.popen.returncode == 0 for w in workers), logs()
