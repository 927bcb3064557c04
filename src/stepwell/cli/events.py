"""``stepwell events list|show|replay``."""

from __future__ import annotations

import click

from stepwell.cli import output
from stepwell.cli.common import run
from stepwell.cli.target import Target, target_options


@click.group(help="List, show and replay events.")
def events() -> None:
    pass


@events.command("list", help="Events, newest first.")
@click.option("--name", default=None, help="only events of this name")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@target_options
def list_events(target: Target, as_json: bool, name: str | None, limit: int) -> int:
    async def work(t: Target) -> int:
        found = await t.events(name=name, limit=limit)
        if as_json:
            output.print_json({"data": found})
        else:
            output.table(
                "Events",
                ["event", "name", "received", "data"],
                [
                    (e["internal_id"], e["name"], e.get("received_at"), output.short(e["data"]))
                    for e in found
                ],
            )
        return 0

    return run(target, work)


@events.command("show", help="An event and the runs it started.")
@click.argument("event_id")
@target_options
def show(target: Target, as_json: bool, event_id: str) -> int:
    async def work(t: Target) -> int:
        event, started = await t.event(event_id)
        if as_json:
            output.print_json({"event": event, "runs": started})
            return 0
        output.details([(k, event.get(k)) for k in ("internal_id", "id", "name", "received_at")])
        output.details([("data", event.get("data"))])
        output.table(
            "Runs",
            ["run", "function", "status"],
            [
                (
                    r.get("id") or r.get("run_id"),
                    r.get("functionId") or r.get("function_slug"),
                    r["status"],
                )
                for r in started
            ],
        )
        return 0

    return run(target, work)


@events.command("replay", help="Send events again (same name and data): their functions run anew.")
@click.argument("event_ids", nargs=-1, required=True)
@click.option(
    "--event-key",
    default="NO_EVENT_KEY_SET",
    envvar="STEPWELL_EVENT_KEY",
    help="the server's event key ($STEPWELL_EVENT_KEY)",
)
@target_options
def replay(target: Target, as_json: bool, event_ids: tuple[str, ...], event_key: str) -> int:
    async def work(t: Target) -> int:
        # Everything is read before anything is sent: an unknown id sends nothing.
        found = [(await t.event(event_id))[0] for event_id in event_ids]
        sent: dict[str, list[str]] = {}
        for event in output.progress(found, "replaying", quiet=as_json):
            sent[event["internal_id"]] = await t.replay_event(event, event_key)
        if as_json:
            output.print_json({"replayed": sent})
        else:
            for old, new in sent.items():
                print(f"{old} -> {', '.join(new)}")
        return 0

    return run(target, work)


COMMANDS = [events]
