"""The Runs page's filters, read from the URL (so a link keeps them) into a ``RunQuery``.

Anything wrong in the URL is collected as a message for the page (shown with a 400), never
raised: a hand-edited link must not give a server error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from stepwell.core.runs import RunStatus
from stepwell.ports.history import RunQuery

WINDOWS = {
    "15m": 15 * 60_000,
    "1h": 3600_000,
    "24h": 24 * 3600_000,
    "7d": 7 * 24 * 3600_000,
    "30d": 30 * 24 * 3600_000,
}
"""Time windows offered, by their URL value; none given: all time."""
PAGE_SIZE = 50
MAX_TEXT = 2000


@dataclass(slots=True)
class RunFilters:
    statuses: list[RunStatus] = field(default_factory=list)
    function: str = ""
    app: str = ""
    window: str = ""
    search: str = ""
    cursor: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.statuses or self.function or self.app or self.window or self.search)

    def query(self, now_ms: int, first: int = PAGE_SIZE) -> RunQuery:
        span = WINDOWS.get(self.window)
        return RunQuery(
            since=now_ms - span if span is not None else None,
            function_ids=(self.function,) if self.function else None,
            app_ids=(self.app,) if self.app else None,
            statuses=tuple(self.statuses) if self.statuses else None,
            first=first,
            after=self.cursor or None,
        )

    def params(self, **changes: str | None) -> str:
        """These filters as a query string, with ``changes`` (None drops a key)."""
        pairs: list[tuple[str, str]] = [("status", s.value) for s in self.statuses]
        values = {
            "function": self.function,
            "app": self.app,
            "window": self.window,
            "q": self.search,
            "cursor": self.cursor,
        }
        for key, value in changes.items():
            values[key] = value or ""
        pairs.extend((key, value) for key, value in values.items() if value)
        return urlencode(pairs)


def _text(params: QueryParams, key: str, problems: list[str]) -> str:
    value = params.get(key, "").strip()
    if len(value) > MAX_TEXT:
        problems.append(f"{key}: longer than {MAX_TEXT} characters")
        return ""
    if "\x00" in value:
        problems.append(f"{key}: contains a NUL character")
        return ""
    return value


def parse_filters(params: QueryParams) -> RunFilters:
    problems: list[str] = []
    statuses: list[RunStatus] = []
    for raw in params.getlist("status"):
        if not raw:
            continue
        try:
            status = RunStatus(raw.capitalize())
        except ValueError:
            words = ", ".join(s.value for s in RunStatus)
            problems.append(f"status: {raw!r} is not one of {words}")
            continue
        if status not in statuses:
            statuses.append(status)
    window = _text(params, "window", problems)
    if window and window not in WINDOWS:
        problems.append(f"window: {window!r} is not one of {', '.join(WINDOWS)}")
        window = ""
    return RunFilters(
        statuses=statuses,
        function=_text(params, "function", problems),
        app=_text(params, "app", problems),
        window=window,
        search=_text(params, "q", problems),
        cursor=_text(params, "cursor", problems),
        problems=problems,
    )
