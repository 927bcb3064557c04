"""A function's configuration in words, for the functions pages: its triggers (crons with their
next fire time), its flow control, and its recent runs counted by status in SQL."""

from __future__ import annotations

from dataclasses import dataclass

from stepwell.core.cron import CronError, parse_cron
from stepwell.core.flow import FlowConfig
from stepwell.core.runs import RunStatus
from stepwell.dashboard.templating import duration, instant
from stepwell.engine.registry import FunctionSpec
from stepwell.ports.history import History, RunQuery

DAY_MS = 24 * 3600 * 1000
STATUSES = (
    RunStatus.QUEUED,
    RunStatus.RUNNING,
    RunStatus.COMPLETED,
    RunStatus.FAILED,
    RunStatus.CANCELLED,
)


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: str  # "event" or "cron"
    what: str  # the event name or the cron expression
    detail: str  # the event's `if`, or when the cron fires next


def triggers(spec: FunctionSpec, now_ms: int) -> list[Trigger]:
    found = [
        Trigger("event", t.event, f"if {t.expression}" if t.expression else "")
        for t in spec.triggers
    ]
    for cron in spec.crons:
        try:
            upcoming = f"next at {instant(parse_cron(cron.cron).next_after(now_ms))}"
        except CronError as exc:
            upcoming = str(exc)
        if cron.jitter:
            upcoming += f" (plus up to {cron.jitter} of jitter)"
        found.append(Trigger("cron", cron.cron, upcoming))
    return found


def _keyed(text: str, key: str | None) -> str:
    return f"{text}, per {key}" if key else text


def flow_words(flow: FlowConfig, spec: FunctionSpec) -> list[tuple[str, str]]:
    """(rule, what it does) for each flow-control rule set, in the order a run meets them."""
    words: list[tuple[str, str]] = []
    if flow.debounce:
        d = flow.debounce
        text = f"starts {duration(d.period_ms)} after the last event"
        if d.timeout_ms:
            text += f", at most {duration(d.timeout_ms)} after the first"
        words.append(("Debounce", _keyed(text, d.key)))
    if flow.batch:
        b = flow.batch
        text = f"up to {b.max_size} events a run, or whatever arrived in {duration(b.timeout_ms)}"
        if b.condition:
            text += f", for events where {b.condition}"
        words.append(("Batching", _keyed(text, b.key)))
    if flow.rate_limit:
        r = flow.rate_limit
        words.append(
            (
                "Rate limit",
                _keyed(
                    f"at most {r.limit} runs every {duration(r.period_ms)}; more are skipped", r.key
                ),
            )
        )
    for t in flow.throttles:
        text = f"at most {t.limit} starts every {duration(t.period_ms)}"
        if t.burst:
            text += f" (bursts of {t.burst} more)"
        words.append(("Throttle", _keyed(text + "; more wait their turn", t.key)))
    if flow.idempotency:
        words.append(("Idempotency", f"one run per {flow.idempotency} in 24 h"))
    if flow.singleton:
        s = flow.singleton
        what = "a new run is skipped" if s.mode == "skip" else "a new run cancels the running one"
        words.append(("Singleton", _keyed(f"one run at a time: {what}", s.key)))
    if flow.priority:
        words.append(("Priority", f"runs earlier by {flow.priority} seconds"))
    for c in flow.concurrency:
        scope = {"fn": "", "env": " across the environment", "account": " across the account"}
        text = f"at most {c.limit} running at once{scope.get(c.scope, '')}"
        words.append(("Concurrency", _keyed(text, c.key)))
    if flow.timeouts:
        parts = []
        if flow.timeouts.start_ms:
            parts.append(f"cancelled if not started within {duration(flow.timeouts.start_ms)}")
        if flow.timeouts.finish_ms:
            parts.append(f"cancelled if not finished within {duration(flow.timeouts.finish_ms)}")
        words.append(("Timeouts", "; ".join(parts)))
    for cancel in spec.cancel_on:
        text = f"when {cancel.event} arrives"
        if cancel.expression:
            text += f" and {cancel.expression}"
        words.append(("Cancel on", text))
    words.append(("Retries", f"{spec.retries} (so {spec.max_attempts} attempts)"))
    return words


async def counts(
    history: History, slugs: tuple[str, ...], since: int | None
) -> dict[RunStatus, int]:
    """How many runs of the functions are in each status, created since ``since`` (ms)."""
    return {
        status: await history.count_runs(
            RunQuery(function_ids=slugs, statuses=(status,), since=since)
        )
        for status in STATUSES
    }
