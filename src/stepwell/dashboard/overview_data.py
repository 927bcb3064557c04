"""The overview: runs of the last hour as a small chart, the backlog, the oldest waiting
item and steps per second, each one narrow read computed in SQL (``ports/history.py``)."""

from __future__ import annotations

from dataclasses import dataclass

from stepwell.ports.history import ActivityBucket, Backlog, History

HOUR_MS = 3600_000
BUCKET_MS = 5 * 60_000
RATE_WINDOW_MS = 60_000
CHART_W, CHART_H = 240, 60


@dataclass(slots=True)
class Series:
    name: str
    css: str
    total: int
    points: str
    """SVG polyline points."""


@dataclass(slots=True)
class Overview:
    buckets: list[ActivityBucket]
    series: list[Series]
    peak: int
    backlog: Backlog
    oldest_wait_ms: int | None
    steps_per_s: float
    width: int = CHART_W
    height: int = CHART_H


def _points(values: list[int], peak: int) -> str:
    if len(values) < 2:
        return ""
    step = CHART_W / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{CHART_H - 2 - (v / peak) * (CHART_H - 4):.1f}"
        for i, v in enumerate(values)
    )


async def load_overview(history: History, now_ms: int) -> Overview:
    # Whole buckets ending at the current one, so a bar does not move within its 5 minutes.
    until = (now_ms // BUCKET_MS + 1) * BUCKET_MS
    buckets = await history.run_activity(until - HOUR_MS, until, BUCKET_MS)
    columns = {
        "Started": ("running", [b.started for b in buckets]),
        "Completed": ("completed", [b.completed for b in buckets]),
        "Failed": ("failed", [b.failed for b in buckets]),
    }
    peak = max([1, *(v for _, values in columns.values() for v in values)])
    series = [
        Series(name, css, sum(values), _points(values, peak))
        for name, (css, values) in columns.items()
    ]
    backlog = await history.backlog(now_ms)
    oldest = None if backlog.oldest_due_at is None else max(0, now_ms - backlog.oldest_due_at)
    ended = await history.steps_ended(now_ms - RATE_WINDOW_MS, now_ms - HOUR_MS)
    return Overview(
        buckets=buckets,
        series=series,
        peak=peak,
        backlog=backlog,
        oldest_wait_ms=oldest,
        steps_per_s=ended / (RATE_WINDOW_MS / 1000),
    )
