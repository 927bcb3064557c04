"""The Driver port: how the engine asks a function to make progress.

A driver runs one *execution*: it replays the memo, runs new work, and reports back. Results of
``step.run`` may be checkpointed mid-execution (one durable write, the run keeps going); the
execution then ends with an outcome: the function returned, raised, or stopped at ops the
engine must wait on (sleep, wait for an event, invoke, a step to retry later).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from stepwell.protocol.ops import Op


@dataclass(slots=True)
class ExecutionRequest:
    run_id: str
    function_id: str
    attempt: int
    max_attempts: int
    events: list[dict[str, Any]]
    memo: dict[str, Any]
    """Hashed step id → stored value; the driver may add checkpointed steps to it."""
    url: str | None = None
    """Where the function is served, for functions of apps synced over HTTP."""
    function_uuid: str = ""
    item_id: str = ""
    defers: dict[str, Any] = field(default_factory=dict)
    """The run's recorded defers (hashed id → ``{"abortable": bool}``), for an SDK's request;
    the driver adds those it records meanwhile."""
    force_plan: bool = False
    """Ask the SDK to plan steps, not run them (``disable_immediate_execution``): the run went
    to sleep in the middle of parallel work (protocol.md §5.6)."""


@dataclass(slots=True)
class Completed:
    output: Any


@dataclass(slots=True)
class Errored:
    """The function raised. ``retry_after_s`` overrides backoff when the error asked for it;
    ``status`` is the HTTP status an app answered with, when the error is such an answer."""

    error: dict[str, Any]
    retriable: bool = True
    retry_after_s: float | None = None
    status: int | None = None


@dataclass(slots=True)
class Suspended:
    """The execution stopped at ops the engine must act on before the run can go on."""

    ops: list[Op] = field(default_factory=list)
    retry_after_s: float | None = None
    force_plan: bool = False
    """The ops came with others (parallel work): the run's next discovery, when its sleep ends,
    asks the SDK to plan steps rather than run them."""


@dataclass(slots=True)
class Released:
    """The driver stopped early (the engine is shutting down): the work stays queued."""


Outcome = Completed | Errored | Suspended | Released


class Checkpoint(Protocol):
    """Durably store finished steps (``StepRun`` or ``StepFailed``) while the execution goes on."""

    async def __call__(self, op: Op) -> Any:
        """One step (or a lazy ``DeferAdd``/``DeferAbort``): its stored value."""
        ...

    async def many(self, ops: list[Op]) -> list[Any]:
        """Steps reported together (an SDK's checkpoint request), stored as one write: each
        one's stored value, once all of them are durable; if the write is refused, none is."""
        ...


StepCheckpoint = Callable[[Op], Awaitable[Any]]
"""One finished step stored: what an SDK's step runtime calls (a ``Checkpoint`` is one)."""

Draining = Callable[[], bool]
"""True once the engine is shutting down: an execution stops before its next new step."""

LocalFunction = Callable[[ExecutionRequest, Checkpoint, Draining], Awaitable[Outcome]]
"""A function living in this process, run for one execution by its SDK's step runtime (ours:
``stepwell.sdk.runtime.run_in_process``). The in-process driver calls it directly, no HTTP."""


class RunCancelled(BaseException):  # a controlled unwind, not an error
    """Raised by a checkpoint when the run ended meanwhile (cancelled): stop executing.

    A BaseException so that ``except Exception`` in user code does not swallow it.
    """


class Driver(Protocol):
    async def execute(self, request: ExecutionRequest, checkpoint: Checkpoint) -> Outcome: ...

    def drain(self) -> None:
        """Stop starting new steps: executions end with ``Released`` at their next step."""
        ...
