"""The in-process driver: calls functions that live in this process directly, no HTTP.

Each function is a ``LocalFunction``: its SDK's step runtime (``stepwell.sdk.runtime``) runs
the execution, checkpointing each new ``step.run`` inline so a run that keeps going never
replays, and reports how it ended. The driver picks the function and says when to stop.
"""

from __future__ import annotations

from collections.abc import Mapping

from stepwell.ports.driver import Checkpoint, ExecutionRequest, LocalFunction, Outcome


class InProcessDriver:
    """Runs registered in-process functions, by function id."""

    def __init__(self, functions: Mapping[str, LocalFunction]) -> None:
        self._functions = functions
        self._draining = False

    def drain(self) -> None:
        self._draining = True

    async def execute(self, request: ExecutionRequest, checkpoint: Checkpoint) -> Outcome:
        function = self._functions[request.function_id]
        return await function(request, checkpoint, lambda: self._draining)
