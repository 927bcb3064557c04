"""``stepwell send``, ``stepwell version`` and ``stepwell lint``."""

from __future__ import annotations

import importlib
import importlib.util
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
    help="Check apps' functions for mistakes (needs stepwell.lint).",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def lint(args: tuple[str, ...]) -> int:
    # The linter owns its arguments: they are handed over as given. Until the package
    # exists the command says so, rather than being absent.
    if importlib.util.find_spec("stepwell.lint") is None:
        print("stepwell: lint is not available in this version", file=sys.stderr)
        return 2
    module = importlib.import_module("stepwell.lint")
    result = module.main(list(args))
    return int(result or 0)


COMMANDS = [send, version, lint]
