"""Change sets of one transaction applied as one, when that changes nothing but the cost.

Each SQLite statement releases the GIL while it steps, and the writer thread must then take
it back from the busy event loop, which it gets about once per turn of the loop. A batch of
300 runs' change sets, applied one after another, is ~2,000 statements and as many waits;
applied as one change set, its inserts go in a few multi-row statements (``multirow``).

``apply_change_set`` applies a change set's parts in a fixed order (events, runs, run
updates, steps, ... items, spans). Two change sets concatenated are applied in that order
over both, so a part of the second can run before a part of the first. That changes nothing
when they touch different rows: ``merge_groups`` only puts change sets together whose runs,
queue items and pauses are all different, and that hold no part whose rows are found by
something other than those keys (flow state, re-armed or replaced items, ended runs, consumed
pauses, new pauses). Where the merged apply would differ, it raises ``StoreConflict`` (a
step of a run another change set ended, a run updated twice) and the writer applies the
batch again change set by change set, as before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from stepwell.ports.records import ChangeSet, CommitResult
from stepwell.store.sqlite.apply import apply_change_set

MAX_MERGED = 512
"""Change sets per merged apply (the writer's batch size): one transaction's worth."""


def _mergeable(changes: ChangeSet) -> bool:
    return not (
        changes.items_rescheduled
        or changes.pauses
        or changes.pauses_consumed
        or changes.items_put
        or changes.states
        or changes.ended_runs
    )


def _keys(changes: ChangeSet) -> tuple[set[str], set[str]]:
    """The runs and queue items ``changes`` writes."""
    runs = {new.record.run_id for new in changes.runs}
    runs.update(update.run_id for update in changes.run_updates)
    runs.update(step.run_id for step in changes.steps)
    runs.update(span.run_id for span in changes.spans)
    items = {item.item_id for item in changes.items}
    runs.update(item.run_id for item in changes.items)
    items.update(done.item_id for done in changes.items_done)
    items.update(changes.items_removed)
    return runs, items


def merge_groups(sets: list[ChangeSet]) -> Iterator[list[ChangeSet]]:
    """``sets`` in order, in runs of consecutive ones that may be applied as one."""
    group: list[ChangeSet] = []
    runs: set[str] = set()
    items: set[str] = set()
    for changes in sets:
        if not _mergeable(changes):
            if group:
                yield group
                group, runs, items = [], set(), set()
            yield [changes]
            continue
        its_runs, its_items = _keys(changes)
        if group and (
            len(group) >= MAX_MERGED
            or not runs.isdisjoint(its_runs)
            or not items.isdisjoint(its_items)
        ):
            yield group
            group, runs, items = [], set(), set()
        group.append(changes)
        runs |= its_runs
        items |= its_items
    if group:
        yield group


def _merged(group: list[ChangeSet]) -> ChangeSet:
    merged = ChangeSet()
    for changes in group:
        merged.events += changes.events
        merged.runs += changes.runs
        merged.run_updates += changes.run_updates
        merged.steps += changes.steps
        merged.spans += changes.spans
        merged.items += changes.items
        merged.items_done += changes.items_done
        merged.items_removed += changes.items_removed
    return merged


def _split(result: CommitResult, group: list[ChangeSet]) -> list[CommitResult]:
    """Each change set's share of the merged apply's result."""
    if not result.skipped_runs and not result.rearmed_items:
        return [CommitResult() for _ in group]
    shares = []
    for changes in group:
        share = CommitResult()
        if result.skipped_runs:
            share.skipped_runs = {
                new.record.run_id
                for new in changes.runs
                if new.record.run_id in result.skipped_runs
            }
        if result.rearmed_items:
            share.rearmed_items = {
                done.item_id for done in changes.items_done if done.item_id in result.rearmed_items
            }
        shares.append(share)
    return shares


def apply_change_sets(conn: sqlite3.Connection, sets: list[ChangeSet]) -> list[CommitResult]:
    """Each change set of ``sets`` applied, in one transaction already begun: the results
    ``apply_change_set`` of each in turn would give, or ``StoreConflict``."""
    results: list[CommitResult] = []
    for group in merge_groups(sets):
        if len(group) == 1:
            results.append(apply_change_set(conn, group[0]))
        else:
            results += _split(apply_change_set(conn, _merged(group)), group)
    return results


@dataclass(frozen=True, slots=True)
class ChangeSetJob:
    """The writer's job for one change set; consecutive ones in a batch are applied together
    (``GroupCommitWriter`` calls ``apply_many``)."""

    changes: ChangeSet

    def __call__(self, conn: sqlite3.Connection) -> CommitResult:
        return apply_change_set(conn, self.changes)

    @staticmethod
    def apply_many(conn: sqlite3.Connection, jobs: list[ChangeSetJob]) -> list[CommitResult]:
        return apply_change_sets(conn, [job.changes for job in jobs])
