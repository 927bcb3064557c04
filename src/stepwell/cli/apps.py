"""``stepwell apps list|sync|remove``."""

from __future__ import annotations

import click

from stepwell.cli import output
from stepwell.cli.common import run
from stepwell.cli.target import Target, target_options


@click.group(help="List, sync and remove apps.")
def apps() -> None:
    pass


@apps.command("list", help="The synced apps.")
@target_options
def list_apps(target: Target, as_json: bool) -> int:
    async def work(t: Target) -> int:
        found = await t.apps()
        if as_json:
            output.print_json({"data": found})
            return 0
        output.table(
            "Apps",
            ["app", "url", "functions", "synced", "problem"],
            [
                (a["name"], a["url"], a["functionCount"], a.get("syncedAt"), a.get("error"))
                for a in found
            ],
        )
        return 0

    return run(target, work)


@apps.command("sync", help="Sync the app served at URL now (and keep it in sync).")
@click.argument("url")
@target_options
def sync(target: Target, as_json: bool, url: str) -> int:
    async def work(t: Target) -> int:
        answer = await t.sync(url)
        if as_json:
            output.print_json({"data": answer})
        else:
            print(f"synced {answer.get('name') or url}")
        return 0

    return run(target, work)


@apps.command("remove", help="Remove an app (by name) and stop syncing it.")
@click.argument("name")
@target_options
def remove(target: Target, as_json: bool, name: str) -> int:
    async def work(t: Target) -> int:
        await t.remove(name)
        if as_json:
            output.print_json({"name": name, "removed": True})
        else:
            print(f"removed {name}")
        return 0

    return run(target, work)


COMMANDS = [apps]
