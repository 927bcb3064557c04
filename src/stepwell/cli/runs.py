"""``stepwell runs list|show|cancel|rerun``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from stepwell.cli import output
from stepwell.cli.common import run, since_ms
from stepwell.cli.target import Target, target_options

STATUSES = ["Queued", "Running", "Completed", "Failed", "Cancelled"]
BAR = 32


@click.group(help="List, show, cancel and rerun runs.")
def runs() -> None:
    pass


@runs.command("list", help="Runs, newest first.")
@click.option("--function", "functions", multiple=True, help="a function's slug (repeatable)")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(STATUSES, case_sensitive=False),
    help="repeatable",
)
@click.option("--since", default=None, help="queued at most this long ago (1h, 7d) or since a time")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--cursor", default=None, help="the cursor a previous page printed")
@target_options
def list_runs(
    target: Target,
    as_json: bool,
    functions: tuple[str, ...],
    statuses: tuple[str, ...],
    since: str | None,
    limit: int,
    cursor: str | None,
) -> int:
    start = since_ms(since)

    async def work(t: Target) -> int:
        found, next_cursor = await t.runs(
            functions=list(functions),
            statuses=list(statuses),
            since=start,
            limit=limit,
            cursor=cursor,
        )
        if as_json:
            output.print_json({"data": found, "cursor": next_cursor})
            return 0
        output.table(
            "Runs",
            ["run", "function", "status", "queued", "took"],
            [
                (r["id"], r["functionId"], r["status"], _when(r["queuedAt"]), _took(r))
                for r in found
            ],
        )
        if next_cursor:
            print(f"more: --cursor {next_cursor}")
        return 0

    return run(target, work)


@runs.command("show", help="A run and its steps, drawn as a timeline.")
@click.argument("run_id")
@target_options
def show(target: Target, as_json: bool, run_id: str) -> int:
    async def work(t: Target) -> int:
        found, spans = await t.trace(run_id)
        if as_json:
            output.print_json({"run": found, "spans": spans})
        else:
            timeline(found, spans)
        return 0

    return run(target, work)


@runs.command("cancel", help="Cancel runs: by id, or a function's runs in a window.")
@click.argument("run_ids", nargs=-1)
@click.option("--function", default=None, help="cancel this function's unfinished runs")
@click.option("--since", default=None, help="with --function: queued since (1h, or a time)")
@click.option("--until", default=None, help="with --function: queued before (1h ago, or a time)")
@click.option("--if", "condition", default=None, help="with --function: a CEL filter on event")
@target_options
def cancel(
    target: Target,
    as_json: bool,
    run_ids: tuple[str, ...],
    function: str | None,
    since: str | None,
    until: str | None,
    condition: str | None,
) -> int:
    if bool(run_ids) == bool(function):
        raise click.UsageError("give run ids, or --function (with a window), not both")
    start, end = since_ms(since), since_ms(until, "--until")

    async def work(t: Target) -> int:
        if function:
            with output.spinner(f"cancelling runs of {function}", quiet=as_json):
                ids = await t.cancel_many(function, start, end, condition)
            if as_json:
                output.print_json({"cancelled_run_ids": ids})
            else:
                print(f"cancelled {len(ids)} runs of {function}")
                for run_id in ids:
                    print(f"  {run_id}")
            return 0
        results = [
            await t.cancel(run_id)
            for run_id in output.progress(list(run_ids), "cancelling", quiet=as_json)
        ]
        if as_json:
            output.print_json({"data": results})
        else:
            for r in results:
                said = "cancelled" if r.get("cancelled") else f"had already ended ({r['status']})"
                print(f"{r['id']}: {said}")
        return 0

    return run(target, work)


@runs.command("rerun", help="Run a run's function again on the same events.")
@click.argument("run_id")
@click.option("--from-step", default=None, help="keep the results before this step (its id)")
@target_options
def rerun(target: Target, as_json: bool, run_id: str, from_step: str | None) -> int:
    async def work(t: Target) -> int:
        new_id = await t.rerun(run_id, from_step)
        if as_json:
            output.print_json({"run_id": new_id})
        else:
            print(f"rerun of {run_id}: {new_id}")
        return 0

    return run(target, work)


def _ms(text: str | None) -> int | None:
    if not text:
        return None
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _when(text: str | None) -> str:
    return "" if not text else text.replace("T", " ")[:19]


def _duration(ms: int | None) -> str:
    if ms is None:
        return "…"
    if ms < 1000:
        return f"{ms}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    return f"{ms // 60_000}m{(ms % 60_000) // 1000:02d}s"


def _took(r: dict[str, Any]) -> str:
    start, end = _ms(r.get("startedAt") or r.get("queuedAt")), _ms(r.get("endedAt"))
    return "" if start is None or end is None else _duration(end - start)


def timeline(found: dict[str, Any], spans: list[dict[str, Any]]) -> None:
    """The run's facts, then one line per step attempt with a bar on the run's time axis."""
    from rich.table import Table
    from rich.text import Text

    out = output.console()
    output.details(
        [
            ("run", found["id"]),
            ("function", found["functionId"]),
            ("status", found["status"]),
            ("queued", _when(found["queuedAt"])),
            ("took", _took(found) or "(not ended)"),
            (
                "output" if found.get("error") is None else "error",
                output.short(found.get("error") or found.get("output"), 100),
            ),
        ]
    )
    if not spans:
        out.print("no steps")
        return
    origin = min(_ms(s["startedAt"]) or 0 for s in spans)
    ends = [_ms(s["endedAt"]) or _ms(s["startedAt"]) or origin for s in spans]
    total = max(max(ends) - origin, 1)
    colours = {"COMPLETED": "green", "FAILED": "red", "ERRORED": "yellow", "WAITING": "cyan"}
    table = Table(header_style="bold", box=None, pad_edge=False)
    for column in ("step", "kind", "try", "status", "at", "took", "timeline"):
        table.add_column(column)
    for span in spans:
        start = (_ms(span["startedAt"]) or origin) - origin
        length = span["durationMs"]
        left = min(BAR - 1, start * BAR // total)
        width = max(1, (length or 0) * BAR // total) if length is not None else BAR - left
        width = min(width, BAR - left)
        bar = Text(" " * left)
        bar.append("█" * width, style=colours.get(span["status"], "white"))
        bar.append(" " * (BAR - left - width))
        table.add_row(
            span["name"],
            span["kind"].lower(),
            str(span["attempt"] + 1),
            Text(span["status"].lower(), style=colours.get(span["status"], "white")),
            f"+{_duration(start)}",
            _duration(length),
            bar,
        )
    out.print(table)


COMMANDS = [runs]
