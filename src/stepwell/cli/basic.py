"""``stepwell send``, ``stepwell version`` and ``stepwell lint``."""

from __future__ import annotations

import json
import sys

import click

import stepwell
from stepwell.server.config import DEFAULT_PORT


@click.command(help="Send an event to a running server.")
@click.argument("name")
@click.option("--data", default="{}", show_default=True, help="event data as a JSON object")
@click.option("--url", default=f"http://127.0.0.1:{DEFAULT_PORT}", show_default=True)
@click.option("--event-key", default="NO_EVENT_KEY_SET", show_default=True, help="event key")
def send(name: str, data: str, url: str, event_key: str) -> int:
    import httpx

    try:
        value = json.loads(data)
    except ValueError as exc:
        print(f"stepwell: --data is not valid JSON: {exc}", file=sys.stderr)
        return 2
    if not isinstance(value, dict):
        print("stepwell: --data must be a JSON object", file=sys.stderr)
        return 2
    target = f"{url.rstrip('/')}/e/{event_key}"
    try:
        response = httpx.post(target, json={"name": name, "data": value}, timeout=10.0)
    except httpx.HTTPError as exc:
        print(f"stepwell: could not reach {target}: {exc}", file=sys.stderr)
        return 1
    print(response.text)
    return 0 if response.status_code == 200 else 1


@click.command(help="Print the version.")
def version() -> int:
    print(f"stepwell {stepwell.__version__}")
    return 0


@click.command(
    help="Check functions' source for the rules of durable code (SW101-SW114).",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def lint(args: tuple[str, ...]) -> int:
    # The linter owns its arguments (and its --help): they are handed over as given.
    from stepwell.lint.command import main as lint_main

    return lint_main(list(args))


COMMANDS = [send, version, lint]
