"""One page of the Runs table: runs from the read port, with their trigger and, when a CEL
search is given, only the runs it matches.

A search is evaluated here, over ``event`` (the run's first triggering event) and ``output``
(its output, or its error when it failed), so it scans runs: at most ``SCAN_LIMIT`` for one
page, read in batches by cursor. The page says when the limit stopped the scan, and its
cursor carries on from the last run scanned.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from stepwell.core.expressions import ExpressionError, compile_expression, evaluate_bool
from stepwell.ports.history import History, RunQuery
from stepwell.ports.records import RunRecord, StoredEvent
from stepwell.protocol.events import SCHEDULED_TIMER

SCAN_LIMIT = 1000
SCAN_BATCH = 200


@dataclass(slots=True)
class RunRow:
    run: RunRecord
    function: str
    trigger: str
    event_id: str | None

    @property
    def duration_ms(self) -> int | None:
        if self.run.started_at is None or self.run.ended_at is None:
            return None
        return self.run.ended_at - self.run.started_at


@dataclass(slots=True)
class RunsView:
    rows: list[RunRow] = field(default_factory=list)
    next_cursor: str | None = None
    scanned: int = 0
    scan_limited: bool = False
    search_error: str | None = None


def trigger_of(stored: StoredEvent | None) -> str:
    if stored is None:
        return ""
    if stored.event.name == SCHEDULED_TIMER:
        cron = stored.event.data.get("cron") if isinstance(stored.event.data, dict) else None
        return f"cron {cron}" if cron else "cron"
    return stored.event.name


def _variables(run: RunRecord, event: StoredEvent | None) -> dict[str, Any]:
    return {
        "event": event.to_wire() if event is not None else {},
        "output": run.error if run.error is not None else run.output,
    }


async def _first_events(history: History, runs: list[RunRecord]) -> dict[str, StoredEvent]:
    ids = [run.event_ids[0] for run in runs if run.event_ids]
    return {stored.internal_id: stored for stored in await history.get_events(ids)}


async def runs_page(
    history: History, query: RunQuery, search: str, names: dict[str, str]
) -> RunsView:
    """The runs of ``query`` (``UnknownCursor`` for a bad cursor), filtered by ``search``;
    ``names`` maps function slugs to the names shown."""
    view = RunsView()
    if search:
        try:
            compile_expression(search)
        except ExpressionError as exc:
            view.search_error = str(exc)
            return view
    wanted, after = query.first, query.after
    while True:
        batch = min(SCAN_BATCH, SCAN_LIMIT - view.scanned) if search else wanted
        page = await history.query_runs(replace(query, first=batch, after=after))
        events = await _first_events(history, page.runs)
        for index, run in enumerate(page.runs):
            view.scanned += 1
            after = run.run_id
            event = events.get(run.event_ids[0]) if run.event_ids else None
            if search and not evaluate_bool(search, _variables(run, event)):
                continue
            name = names.get(run.function_id, run.function_id)
            event_id = event.internal_id if event is not None else None
            view.rows.append(RunRow(run, name, trigger_of(event), event_id))
            if len(view.rows) == wanted:
                rest = index < len(page.runs) - 1 or page.has_more
                view.next_cursor = after if rest else None
                return view
        if not page.has_more:
            return view
        if search and view.scanned >= SCAN_LIMIT:
            view.scan_limited = True
            view.next_cursor = after
            return view
