"""Spreading files over processes: ``map_jobs`` gives ``lint_files`` of the jobs, in the order
of the jobs, computed here and by forked workers (this process works too: on two CPUs, one
fork). The files are cut in parts, which each process takes in turn, the next one free, so
that a process slowed down (a loaded machine, larger files) takes fewer.

Workers are started only when they pay: with at least two CPUs this process may use, at least
``MIN_FILES_PER_WORKER`` files a worker, and where a worker can be forked (a copy of this
process, which has the linter imported already: no start-up beyond the fork). Forking is
skipped where it is not safe (threads running, macOS, Windows) and in a daemonic process
(which cannot have children): there the files are linted here, one after the other.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
import threading
from collections.abc import Iterator
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized

from stepwell.lint.files import FileResult, Job, lint_files

# Below this many files a worker, starting one costs more than it saves: a fork and its pipe
# take ~6 ms, a file ~1-2 ms of parsing and rules (bench/lint.py).
MIN_FILES_PER_WORKER = 40
# The files are cut in about this many parts a process, so that the last part to end does not
# leave the other processes idle for long.
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


def _parts(jobs: list[Job], count: int) -> list[list[Job]]:
    size = max(1, -(-len(jobs) // count))
    return [jobs[start : start + size] for start in range(0, len(jobs), size)]


def _take(
    parts: list[list[Job]], taken: Synchronized[int]
) -> Iterator[tuple[int, list[FileResult]]]:
    """Lint the parts no process has taken yet, one at a time, until there are none."""
    while True:
        with taken.get_lock():
            index = taken.value
            taken.value = index + 1
        if index >= len(parts):
            return
        yield index, lint_files(parts[index])


def _work(parts: list[list[Job]], taken: Synchronized[int], send: Connection) -> None:
    """A worker: lint parts, send what it found (a forked copy: nothing was pickled to it)."""
    send.send(list(_take(parts, taken)))
    send.close()


def map_jobs(jobs: list[Job], processes: int) -> list[FileResult]:
    """``lint_files(jobs)``, with ``processes`` processes: this one and forked workers, each
    taking the next part of the files until none is left."""
    if processes <= 1:
        return lint_files(jobs)
    context = multiprocessing.get_context("fork")
    parts = _parts(jobs, processes * _PARTS_PER_WORKER)
    taken = context.Value("i", 0)
    workers = []
    for _ in range(processes - 1):
        receive, send = context.Pipe(duplex=False)
        worker = context.Process(target=_work, args=(parts, taken, send), daemon=True)
        worker.start()
        send.close()
        workers.append((worker, receive))
    done = dict(_take(parts, taken))
    for worker, receive in workers:
        # EOFError: the worker failed (its traceback is on stderr); its parts are linted below.
        with contextlib.suppress(EOFError):
            done.update(receive.recv())
        receive.close()
        worker.join()
    return [
        result
        for i, part in enumerate(parts)
        for result in (done[i] if i in done else lint_files(part))
    ]
