"""``stepwell functions list|pause|resume|invoke``."""

from __future__ import annotations

import click

from stepwell.cli import output
from stepwell.cli.common import json_object, run
from stepwell.cli.target import Target, target_options


@click.group(help="List, pause, resume and invoke functions.")
def functions() -> None:
    pass


@functions.command("list", help="The synced apps' functions.")
@target_options
def list_functions(target: Target, as_json: bool) -> int:
    async def work(t: Target) -> int:
        found = await t.functions()
        if as_json:
            output.print_json({"data": found})
            return 0
        output.table(
            "Functions",
            ["function", "name", "app", "triggers", "paused"],
            [
                (
                    f["slug"],
                    f["name"],
                    f["appId"],
                    ", ".join(tr.get("event") or f"cron {tr.get('cron')}" for tr in f["triggers"]),
                    "yes" if f["paused"] else "",
                )
                for f in found
            ],
        )
        return 0

    return run(target, work)


def _toggle(paused: bool) -> click.Command:
    verb = "pause" if paused else "resume"

    @click.command(verb, help=f"{verb.capitalize()} a function (by slug).")
    @click.argument("slug")
    @target_options
    def command(target: Target, as_json: bool, slug: str) -> int:
        async def work(t: Target) -> int:
            await t.set_paused(slug, paused)
            if as_json:
                output.print_json({"function": slug, "paused": paused})
            else:
                print(f"{slug}: {'paused' if paused else 'resumed'}")
            return 0

        return run(target, work)

    return command


functions.add_command(_toggle(True))
functions.add_command(_toggle(False))


@functions.command("invoke", help="Start a run of a function; --wait for its output.")
@click.argument("slug")
@click.option("--app", required=True, help="the function's app")
@click.option("--data", default="{}", help="the run's event data, a JSON object")
@click.option(
    "--wait", type=click.FloatRange(0, 300, min_open=True), default=None, metavar="SECONDS"
)
@target_options
def invoke(
    target: Target, as_json: bool, slug: str, app: str, data: str, wait: float | None
) -> int:
    payload = json_object(data)

    async def work(t: Target) -> int:
        answer = await t.invoke(app, slug, payload, wait)
        if as_json:
            output.print_json(answer)
            return 0
        found = answer.get("run")
        if found is None:
            print(f"event {answer['eventId']}: run {answer.get('runId')}")
            return 0
        print(f"run {found['id']}: {found['status']}")
        if found.get("error") is not None:
            print(f"error: {output.short(found['error'], 200)}")
            return 1
        print(f"output: {output.short(found.get('output'), 200)}")
        return 0

    return run(target, work)


COMMANDS = [functions]
