"""Seeing what an engine commits: its store's commit, wrapped to keep each change set."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from stepwell.engine.engine import Engine
from stepwell.ports.records import ChangeSet, CommitResult


def record_commits(engine: Engine) -> list[ChangeSet]:
    """Every change set the engine's store commits from now on, in order (each is still
    committed as it would be)."""
    commits: list[ChangeSet] = []
    real_commit = engine.store.commit

    async def recording_commit(changes: ChangeSet) -> CommitResult:
        commits.append(changes)
        return await real_commit(changes)

    real_in_order = engine.store.commit_in_order

    def recording_in_order(
        changes: ChangeSet, committing: Callable[[], None] | None = None
    ) -> Awaitable[CommitResult] | None:
        queued = real_in_order(changes, committing)
        if queued is not None:  # a send whose runs start during its commit
            commits.append(changes)
        return queued

    engine.store.commit = recording_commit  # type: ignore[method-assign]
    engine.store.commit_in_order = recording_in_order  # type: ignore[method-assign]
    return commits
