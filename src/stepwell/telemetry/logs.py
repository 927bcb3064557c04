"""Logs that say what happened: one line per failed run with the user's own traceback, retries
below that, and the format a server prints them in (text or JSON lines).

Everything goes through the ``stepwell`` logger hierarchy (``stepwell.runs`` here), so an
embedded app sees failed runs on stderr with no setup (Python prints warnings and errors when no
handler is configured) and configures the rest as it configures any library's logging.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from stepwell.core.runs import RunStatus
from stepwell.ports.records import ChangeSet, RunRecord
from stepwell.ports.telemetry import RunEnding

log = logging.getLogger("stepwell.runs")

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
FIELDS = ("run_id", "function", "step", "attempt", "event_id", "app", "url", "status")
"""Structured fields a record may carry (``extra=``): JSON lines have them as keys."""


def error_summary(error: dict[str, Any] | None) -> str:
    if not error:
        return "(no error reported)"
    name = str(error.get("name") or "Error")
    message = str(error.get("message") or error.get("error") or "")
    return f"{name}: {message}" if message else name


def error_stack(error: dict[str, Any] | None) -> str:
    """The stack as the SDK reported it (ours trims Stepwell's own frames before reporting)."""
    stack = (error or {}).get("stack")
    return stack.rstrip() if isinstance(stack, str) else ""


class LogTelemetry:
    """The ``Telemetry`` that logs: failures as errors, retries and cancellations as info,
    completions and steps as debug."""

    def execution_started(
        self, function: str, run: RunRecord, attempt: int, queued_ms: int, first_event_ms: int
    ) -> None:
        if log.isEnabledFor(logging.DEBUG):
            fields = {"run_id": run.run_id, "function": function, "attempt": attempt}
            log.debug(
                "run %s of %s: executing (attempt %d, %d ms after it was due)",
                run.run_id,
                function,
                attempt,
                queued_ms,
                extra=fields,
            )

    def committed(
        self, changes: ChangeSet, endings: Sequence[RunEnding], skipped_runs: set[str]
    ) -> None:
        for ending in endings:
            self._ended(ending)
        if changes.spans and log.isEnabledFor(logging.DEBUG):
            for span in changes.spans:
                if span.ended_at is None:
                    continue
                fields = {"run_id": span.run_id, "step": span.name, "attempt": span.attempt}
                log.debug(
                    "run %s: step %r %s in %d ms (attempt %d)",
                    span.run_id,
                    span.name,
                    span.status.value.lower(),
                    span.ended_at - span.started_at,
                    span.attempt,
                    extra=fields,
                )

    def _ended(self, ending: RunEnding) -> None:
        run = ending.run
        fields: dict[str, Any] = {
            "run_id": run.run_id,
            "function": run.function_id,
            "attempt": ending.attempt,
            "status": ending.status.value,
        }
        if ending.status is RunStatus.FAILED:
            summary = (
                f"run failed: function={run.function_id} run={run.run_id}"
                + (f" attempt={ending.attempt}" if ending.attempt is not None else "")
                + f": {error_summary(ending.error)}"
            )
            stack = error_stack(ending.error)
            fields["summary"] = summary
            fields["traceback"] = stack
            log.error("%s", f"{summary}\n{stack}" if stack else summary, extra=fields)
        elif ending.status is RunStatus.CANCELLED:
            log.info("run cancelled: function=%s run=%s", run.function_id, run.run_id, extra=fields)
        elif log.isEnabledFor(logging.DEBUG):
            log.debug(
                "run completed: function=%s run=%s", run.function_id, run.run_id, extra=fields
            )

    def retrying(
        self,
        function: str,
        run_id: str,
        attempt: int,
        step: str | None,
        error: dict[str, Any] | None,
        delay_s: float,
    ) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        what = f"step {step!r}" if step else "the function"
        summary = (
            f"retrying: function={function} run={run_id} attempt={attempt}: {what} failed with "
            f"{error_summary(error)}; attempt {attempt + 1} in {delay_s:.3g}s"
        )
        fields = {"run_id": run_id, "function": function, "step": step, "attempt": attempt}
        log.info("%s", summary, extra={**fields, "summary": summary})

    def commit_batch(self, size: int, seconds: float) -> None:
        pass

    def sdk_response(self, status: int | None) -> None:
        pass

    def close(self) -> None:
        pass


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, then the structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": getattr(record, "summary", None) or record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        trace = getattr(record, "traceback", None)
        if trace:
            line["traceback"] = trace
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send the ``stepwell`` loggers to ``stream`` (stderr) at ``level``, as text or JSON."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("stepwell")
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
