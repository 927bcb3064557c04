"""The observability port: what the engine tells the outside world as it works.

The engine calls a ``Telemetry`` at a handful of points (an execution starts, a commit lands, a
retry is scheduled) and never learns what is done with it: log lines, Prometheus metrics and
OpenTelemetry spans are adapters in ``stepwell.telemetry``, picked by whoever builds the engine.
``NO_TELEMETRY`` is the default, and costs one method call per point.

Every method is called on the engine's event loop, except ``commit_batch``, which a store's
writer may call from its own thread. None of them may raise or block.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from stepwell.core.runs import RunStatus
from stepwell.ports.records import ChangeSet, RunRecord


@dataclass(slots=True)
class RunEnding:
    """A run that a committed change set ended."""

    run: RunRecord
    status: RunStatus
    error: dict[str, Any] | None = None
    attempt: int | None = None
    """The attempt of the execution that ended it, when an execution did."""


class Telemetry(Protocol):
    def execution_started(
        self, function: str, run: RunRecord, attempt: int, queued_ms: int, first_event_ms: int
    ) -> None:
        """An execution of ``run`` got its slot and calls the function. ``first_event_ms``
        is when its triggering event was received if this is the run's first execution
        (it starts now), else -1."""

    def committed(
        self, changes: ChangeSet, endings: Sequence[RunEnding], skipped_runs: set[str]
    ) -> None:
        """A change set was committed: its events, new runs (less ``skipped_runs``), step
        spans and the runs it ended (``endings``)."""

    def retrying(
        self,
        function: str,
        run_id: str,
        attempt: int,
        step: str | None,
        error: dict[str, Any] | None,
        delay_s: float,
    ) -> None:
        """A failed attempt (of ``step``, or of the function) will be retried in ``delay_s``."""

    def commit_batch(self, size: int, seconds: float) -> None:
        """A store transaction committed ``size`` change sets in ``seconds``."""

    def sdk_response(self, status: int | None) -> None:
        """An SDK app answered a call with ``status`` (None: no answer, the call failed)."""

    def close(self) -> None:
        """The engine stopped: flush what is buffered."""


class NoTelemetry:
    """Tells no one."""

    def execution_started(
        self, function: str, run: RunRecord, attempt: int, queued_ms: int, first_event_ms: int
    ) -> None:
        pass

    def committed(
        self, changes: ChangeSet, endings: Sequence[RunEnding], skipped_runs: set[str]
    ) -> None:
        pass

    def retrying(
        self,
        function: str,
        run_id: str,
        attempt: int,
        step: str | None,
        error: dict[str, Any] | None,
        delay_s: float,
    ) -> None:
        pass

    def commit_batch(self, size: int, seconds: float) -> None:
        pass

    def sdk_response(self, status: int | None) -> None:
        pass

    def close(self) -> None:
        pass


NO_TELEMETRY: Telemetry = NoTelemetry()
