"""The garbage collector, made to run less often while an engine runs.

CPython collects its youngest generation after every 700 net allocations of container objects,
and each tenth of those collections also scans the middle generation, and so on. An engine under
load allocates a few hundred such objects per run (plans, records, coroutines, futures), and
the runs it holds in flight keep many alive, so the collections that scan them come round
often: measured on the sleep scenario of ``bench/ingest.py``, the collector took about a third
of the event loop's CPU per run (20,000 runs: 220 -> 145 us per run with the first threshold
at 20,000; 100,000 runs: 226 -> 172 us at 50,000, where 20,000 still gave 223). The threshold
is raised only while it is still CPython's default (a process that set its own keeps it), and
put back when the last engine stops.
"""

from __future__ import annotations

import gc
import threading

CPYTHON_DEFAULT = (700, 10, 10)
ENGINE_THRESHOLDS = (50_000, 10, 10)
"""Up to 50,000 young objects between collections: only garbage in reference cycles waits
for them (other objects are freed at once), at most some MB of it, a little longer."""

_lock = threading.Lock()
_engines = 0
_raised = False


def engine_started() -> None:
    """One more engine running: raise the threshold if nobody has changed it."""
    global _engines, _raised
    with _lock:
        _engines += 1
        if _engines == 1 and gc.get_threshold() == CPYTHON_DEFAULT:
            gc.set_threshold(*ENGINE_THRESHOLDS)
            _raised = True


def engine_stopped() -> None:
    """One engine fewer: the last one puts the default back (unless changed meanwhile)."""
    global _engines, _raised
    with _lock:
        _engines = max(0, _engines - 1)
        if _engines == 0 and _raised:
            if gc.get_threshold() == ENGINE_THRESHOLDS:
                gc.set_threshold(*CPYTHON_DEFAULT)
            _raised = False
