"""Rendering pages: one Jinja2 environment (autoescaped), and the filters every page shares."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from stepwell.core.runs import RunStatus
from stepwell.protocol.durations import instant_from_ms

TEMPLATES = Path(__file__).with_name("templates")

STATUS_WORDS = {
    RunStatus.QUEUED: "Queued",
    RunStatus.RUNNING: "Running",
    RunStatus.COMPLETED: "Completed",
    RunStatus.FAILED: "Failed",
    RunStatus.CANCELLED: "Cancelled",
}
"""How a run's status is shown: as a word (the contract), coloured by CSS class."""


def status_word(status: RunStatus | str) -> str:
    return STATUS_WORDS.get(RunStatus(status), str(status))


def instant(ms: int | None) -> str:
    """An instant as ISO-8601 UTC (the page's script shows it in the viewer's time too)."""
    return "" if ms is None else instant_from_ms(ms)


def duration(ms: int | None) -> str:
    """A duration the way people read one: ``840 ms``, ``2.4 s``, ``3 m 12 s``, ``5 h 02 m``."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} m"
    return f"{hours // 24} d {hours % 24:02d} h"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["status_word"] = status_word
    env.filters["instant"] = instant
    env.filters["duration"] = duration
    return env


ENVIRONMENT = _environment()


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page (or, for htmx requests, the fragment a template renders for them)."""
    page = ENVIRONMENT.get_template(template).render(request=request, **context)
    return HTMLResponse(page, status_code=status_code)
