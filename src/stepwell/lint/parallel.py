"""Spreading files over worker processes: ``map_jobs`` gives ``lint_files`` of the jobs, in
the order of the jobs, computed here or by forked workers.

A pool is started only when it pays: with at least two CPUs this process may use, at least
``MIN_FILES_PER_WORKER`` files a worker, and where a worker can be forked (a copy of this
process, which has the linter imported already: no start-up beyond the fork). Forking is
skipped where it is not safe (threads running, macOS, Windows) and in a daemonic process
(which cannot have children): there the files are linted here, one after the other.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator

from stepwell.lint.files import FileResult, Job, lint_files

# Below this many files a worker, starting the pool costs more than it saves: a fork and its
# pipes take a few milliseconds, a file ~1-2 ms of parsing and rules (bench/lint.py).
MIN_FILES_PER_WORKER = 40
# Each worker is given its files in about this many parts, so that one slow part does not
# leave the other workers idle at the end.
_PARTS_PER_WORKER = 4


def cpus() -> int:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def can_fork() -> bool:
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and sys.platform != "darwin"
        and threading.active_count() == 1
        and not multiprocessing.current_process().daemon
    )


def workers(files: int, jobs: int | None = None) -> int:
    """How many processes lint ``files`` files: ``jobs`` if given (1: this one), else as many
    as pays; 1 where forking is not possible."""
    wanted = jobs if jobs is not None else min(cpus(), files // MIN_FILES_PER_WORKER)
    wanted = min(wanted, files)
    return wanted if wanted > 1 and can_fork() else 1


def _parts(jobs: list[Job], count: int) -> Iterator[list[Job]]:
    size = max(1, -(-len(jobs) // count))
    for start in range(0, len(jobs), size):
        yield jobs[start : start + size]


def map_jobs(jobs: list[Job], processes: int) -> list[FileResult]:
    """``lint_files(jobs)``, with ``processes`` processes (1: in this one)."""
    if processes <= 1:
        return lint_files(jobs)
    context = multiprocessing.get_context("fork")
    parts = list(_parts(jobs, processes * _PARTS_PER_WORKER))
    with context.Pool(processes) as pool:
        done = pool.map(lint_files, parts, chunksize=1)
    return [result for part in done for result in part]
