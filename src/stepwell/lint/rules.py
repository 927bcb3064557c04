"""The rules of durable code: one entry a rule, with its code, its one-line message, the fix it
suggests, and whether it is advice (off unless selected). docs/guides/lint.md explains each at
length.

A message is a template: ``{what}`` is the code the finding is about (``time.time()``,
``'charge'``), filled in by the rule that reports it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    name: str
    message: str
    fix: str
    advice: bool = False


@dataclass(frozen=True, slots=True)
class Finding:
    path: str
    line: int
    col: int
    code: str
    message: str

    @property
    def rule(self) -> Rule:
        return RULES[self.code]


SYNTAX_ERROR = Rule(
    "SW000",
    "syntax-error",
    "cannot parse this file: {what}",
    "fix the syntax error (nothing else in the file was checked)",
)

_ALL = (
    Rule(
        "SW101",
        "non-deterministic-outside-step",
        "{what} outside a step: a new value on every replay",
        "compute it inside a step (`ctx.step.run(...)`) so the value is stored and replayed",
    ),
    Rule(
        "SW102",
        "io-outside-step",
        "{what} outside a step: it runs again on every replay and is not retried as a step",
        "move the call into a step's callable",
    ),
    Rule(
        "SW103",
        "nested-step",
        "step {what} inside another step's callable",
        "call the step from the function body, next to the outer step, not inside it",
    ),
    Rule(
        "SW104",
        "step-escapes",
        "{what}: the step tools must not outlive or leave the function",
        "use `ctx.step` only in the function body (or helpers it awaits); pass values, not ctx",
    ),
    Rule(
        "SW105",
        "plain-sleep",
        "{what} in a function body: it holds the worker and restarts on every replay",
        "use `await ctx.step.sleep(id, duration)`, which sleeps durably without a worker",
    ),
    Rule(
        "SW106",
        "polling-loop",
        "loop that sleeps and checks again ({what}): a polling loop",
        "wait for the event with `ctx.step.wait_for_event` or `ctx.step.wait_for_signal`",
    ),
    Rule(
        "SW107",
        "step-not-awaited",
        "step {what} is not awaited: it never runs",
        "put `await` before the step call (or gather it with others)",
    ),
    Rule(
        "SW108",
        "print-or-module-logger",
        "{what} in a function body: the line is repeated on every replay",
        "use `ctx.logger`, which is silent while the function replays",
    ),
    Rule(
        "SW109",
        "send-event-in-loop",
        "send_event {what} inside a loop: one step per event",
        "build the list of events and send it with one `send_event` step",
    ),
    Rule(
        "SW110",
        "http-in-step-run",
        "HTTP call {what} inside step.run: `step.fetch` would make it durably",
        "use `await ctx.step.fetch(id, url, ...)`, made by the engine and stored as a step",
        advice=True,
    ),
    Rule(
        "SW111",
        "non-deterministic-step-id",
        "step id built from {what}: it changes on replay, so the step runs again",
        "build step ids from constants, the event's data, loop indexes or earlier step results",
    ),
    Rule(
        "SW112",
        "untyped-event",
        "bare event name {what} where the typed event class {detail} exists",
        "use the class (`on_event(Cls)`, `Cls(...)`, `event=Cls`) so the data is checked",
        advice=True,
    ),
    Rule(
        "SW113",
        "no-concurrency-limit",
        "function {what} calls external services from its steps with no concurrency limit",
        "add `concurrency=` (or `throttle=`) so a burst of events cannot flood the service",
        advice=True,
    ),
    Rule(
        "SW114",
        "step-result-not-json",
        "step callable {what} returns {detail}, which JSON cannot hold",
        "return JSON values (dict, list, str, numbers, bool, None) or a model of them",
    ),
)

RULES: dict[str, Rule] = {rule.code: rule for rule in (SYNTAX_ERROR, *_ALL)}
SELECTABLE: tuple[str, ...] = tuple(rule.code for rule in _ALL)
DEFAULT: frozenset[str] = frozenset(rule.code for rule in _ALL if not rule.advice)


def message(code: str, what: str, detail: str = "") -> str:
    return RULES[code].message.format(what=what, detail=detail)


class SelectionError(ValueError):
    """A rule selector that names no rule."""


def expand(selectors: list[str]) -> set[str]:
    """The codes ``selectors`` name: a code, a prefix of codes (``SW1``, ``SW``) or ``ALL``."""
    codes: set[str] = set()
    for selector in selectors:
        wanted = selector.strip().upper()
        found = [c for c in SELECTABLE if wanted == "ALL" or c.startswith(wanted)]
        if not wanted or not found:
            raise SelectionError(f"unknown rule {selector!r} (rules are SW101 to SW114)")
        codes.update(found)
    return codes


def select(
    select: list[str] | None, ignore: list[str] | None, extend_select: list[str] | None
) -> frozenset[str]:
    """The codes in force: ``select`` (default: every rule but the advice ones), plus
    ``extend_select``, minus ``ignore``."""
    chosen = expand(select) if select is not None else set(DEFAULT)
    chosen |= expand(extend_select or [])
    chosen -= expand(ignore or [])
    return frozenset(chosen)
