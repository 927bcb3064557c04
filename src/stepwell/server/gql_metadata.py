"""Run metadata on trace spans: ``RunTraceSpan.metadata``, a list of ``SpanMetadata``.

A run's metadata is stored as the updates were written (``engine.run_metadata``). On a span,
updates of the same kind and scope (and attempt, and extended-trace span) are combined into one
``SpanMetadata`` by their ops, in the order written, as the SDKs describe it: ``set`` replaces
the values, ``merge`` sets the keys given, ``delete`` removes them, ``add`` adds numbers to
numbers. Its ``updatedAt`` is the time of its last update.

Updates aimed at a step (its ``step_hash``) go on that step's span, the others on the run's root.
"""

from __future__ import annotations

from typing import Any

from stepwell.server.gql_nodes import time_out


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _combine(values: dict[str, Any], op: str, update: dict[str, Any]) -> dict[str, Any]:
    if op == "set":
        return dict(update)
    if op == "delete":
        return {k: v for k, v in values.items() if k not in update}
    combined = dict(values)
    for key, value in update.items():
        old = combined.get(key)
        if op == "add" and _number(old) and _number(value):
            combined[key] = old + value
        else:
            combined[key] = value
    return combined


def span_metadata(entries: list[dict[str, Any]]) -> dict[str | None, list[dict[str, Any]]]:
    """``SpanMetadata`` lists by step hash (None: the run's root span)."""
    combined: dict[str | None, dict[tuple[Any, ...], dict[str, Any]]] = {}
    for entry in entries:
        values = entry.get("values")
        if not isinstance(values, dict):
            continue
        scope, kind = str(entry.get("scope") or "run"), str(entry.get("kind") or "")
        key = (kind, scope, entry.get("attempt"), entry.get("span_id"))
        on_span = combined.setdefault(entry.get("step_hash"), {})
        found = on_span.get(key)
        before = found["values"] if found is not None else {}
        on_span[key] = {
            "kind": kind,
            "scope": scope,
            "values": _combine(before, str(entry.get("op") or "merge"), values),
            "updatedAt": time_out(entry.get("at")),
        }
    return {step: list(found.values()) for step, found in combined.items()}
