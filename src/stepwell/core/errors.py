"""Errors: the exceptions user code raises or sees, and their stored/wire form
(``{"name", "message", "stack"}``, protocol.md §5.4)."""

from __future__ import annotations

import os
import traceback
from datetime import datetime, timedelta
from typing import Any


class StepwellError(Exception):
    """Base of every error Stepwell raises on purpose."""


class ConfigError(StepwellError, ValueError):
    """An app, function, trigger, event type or step call declared wrongly: raised where it is
    declared (at decoration, or at the call), never halfway through a run."""


class NonRetriableError(StepwellError):
    """Raise to fail a step or a run at once, without further retries."""


class RetryAfterError(StepwellError):
    """Raise to retry after a given delay (seconds, a timedelta, or an instant)."""

    def __init__(self, message: str, after: float | timedelta | datetime) -> None:
        super().__init__(message)
        self.after = after

    def delay_seconds(self, now: datetime) -> float:
        if isinstance(self.after, datetime):
            return (self.after - now).total_seconds()
        if isinstance(self.after, timedelta):
            return self.after.total_seconds()
        return float(self.after)


class StepError(StepwellError):
    """A step failed for good (retries exhausted, or non-retriable). User code may catch it."""

    def __init__(self, step_id: str, error: dict[str, Any]) -> None:
        self.step_id = step_id
        self.error = error
        self.error_name = str(error.get("name", "Error"))
        self.error_message = str(error.get("message", ""))
        super().__init__(f"step {step_id!r} failed: {self.error_name}: {self.error_message}")


class NestedStepError(NonRetriableError):
    """A step tool was called inside another step's body."""


class StepOutputError(NonRetriableError):
    """A step or function result that cannot be stored (not JSON, or too large)."""


def error_payload(name: str, message: str, stack: str = "") -> dict[str, Any]:
    return {"name": name, "message": message, "stack": stack}


def standard_error(error: dict[str, Any], status: int | None = None) -> dict[str, Any]:
    """A run's error as ``inngest/function.failed`` and ``function.finished`` carry it in
    ``data.error``: Inngest's ``{"error", "name", "message", "stack"?}``.

    ``error`` is the error's own string field when it has one, else what went wrong for the
    server: ``invalid status code: N`` for an app's error answer, ``Name: message`` for an
    error raised in process. ``stack`` is there only when the error has a non-empty one.
    """
    name = _text(error.get("name")) or "Error"
    message = _text(error.get("message")) or _text(error.get("error"))
    summary = _text(error.get("error"))
    if not summary:
        summary = f"invalid status code: {status}" if status is not None else f"{name}: {message}"
    standard: dict[str, Any] = {"error": summary, "name": name, "message": message or summary}
    stack = _text(error.get("stack"))
    if stack:
        standard["stack"] = stack
    return standard


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


_OWN_CODE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
"""Where Stepwell's own modules are: their frames are left out of the stacks we report."""


def error_from_exception(exc: BaseException) -> dict[str, Any]:
    """The stored form of an exception raised by user code, its stack showing the user's own
    frames (Stepwell's are trimmed; an uncaught ``StepError`` also shows the step's stack)."""
    stack = user_traceback(exc)
    if isinstance(exc, StepError):
        inner = _text(exc.error.get("stack"))
        if inner:
            stack += f"\nstep {exc.step_id!r} failed with:\n{inner}"
    return error_payload(type(exc).__name__, str(exc), stack)


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without the frames of Stepwell's own code (all of them are
    kept when nothing else is left: the error is then ours)."""
    report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
    seen: set[int] = set()
    pending = [report]
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        theirs = [frame for frame in node.stack if not frame.filename.startswith(_OWN_CODE)]
        if theirs and len(theirs) < len(node.stack):
            node.stack = traceback.StackSummary.from_list(theirs)
        pending.extend(n for n in (node.__cause__, node.__context__) if n is not None)
    return "".join(report.format())
