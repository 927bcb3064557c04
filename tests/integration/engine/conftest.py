"""What the engine's integration tests share: reading a function's runs back."""

from __future__ import annotations

import stepwell


async def runs_of(engine: stepwell.Engine, function_id: str) -> list[stepwell.Run]:
    """The function's runs, oldest first (run ids are ULIDs)."""
    return sorted(await engine.list_runs(function_id=function_id), key=lambda r: r.run_id)


async def all_ended(engine: stepwell.Engine, function_id: str, count: int) -> bool:
    """Whether the function has ``count`` runs and every one of them has ended."""
    runs = await runs_of(engine, function_id)
    return len(runs) == count and all(r.status.is_terminal for r in runs)
