"""The read port: what presentation (GraphQL, REST, the dashboard, the CLI) reads of history.

Reads only, never writes: the server and the dashboard see runs, events, steps and their
trace through this port and the engine's public methods, never through the engine's store.
"""

from __future__ import annotations

from typing import Any, Protocol

from stepwell.ports.records import RunRecord, StoredEvent


class History(Protocol):
    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(
        self,
        *,
        function_id: str | None = None,
        event_id: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        """Newest first."""
        ...

    async def get_events(self, internal_ids: list[str]) -> list[StoredEvent]:
        """In the order asked for; unknown ids are left out."""
        ...

    async def list_events(
        self,
        *,
        name: str | None = None,
        limit: int = 100,
        before_id: str | None = None,
        received_after: int | None = None,
        received_before: int | None = None,
    ) -> list[StoredEvent]:
        """Newest first; ``before_id`` pages back from an earlier page's last id."""
        ...

    async def load_memo(self, run_id: str) -> dict[str, Any]:
        """Hashed step id → stored value, in the order the results were saved."""
        ...
