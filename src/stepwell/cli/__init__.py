"""The ``stepwell`` command, on Click: one module per command group.

``stepwell --help`` imports Click and this package's command modules only: each command
imports what it needs (the server stack, a store, Rich) when it runs. The groups:

- ``server``: ``dev``, ``start``, ``ui`` (the server and the dashboard);
- ``database``: ``migrate``, ``prune``;
- ``basic``: ``send``, ``version``, ``lint`` (the linter, when ``stepwell.lint`` is installed);
- ``runs``, ``events``, ``functions``, ``apps``: work on a server (``--url``) or straight on a
  database (``--database``);
- ``doctor``: checks a deployment.

Exit codes: 0 done, 1 failed (unreachable, refused, not found), 2 bad usage or a bad setting.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import click

from stepwell.cli import apps, basic, database, doctor, events, functions, runs, server

__all__ = ["cli", "main", "parse_args"]


HELP = """Stepwell: durable, event-driven workflows, compatible with Inngest's SDKs.

Run a server (dev, start), look at and act on runs, events, functions and apps on a server
(--url) or straight on a database (--database), and keep the database (migrate, prune)."""


@click.group(
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
def cli() -> None:
    pass


for _module in (server, database, basic, runs, events, functions, apps, doctor):
    for _command in _module.COMMANDS:
        cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the entry point calls ``sys.exit``)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        result = cli.main(args=args, prog_name="stepwell", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("stepwell: aborted", err=True)
        return 1
    except SystemExit as exc:  # raised with a message by a helper (e.g. a bad --app)
        if isinstance(exc.code, str):
            click.echo(exc.code, err=True)
            return 1
        return int(exc.code or 0)
    return int(result) if isinstance(result, int) else 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """What ``stepwell dev|start ...`` was given, as the settings loader reads it: one
    attribute per setting of that command, None where no flag was given."""
    command = cli.get_command(click.Context(cli), argv[0])
    if command is None:
        raise ValueError(f"no command {argv[0]!r}")
    with command.make_context(argv[0], list(argv[1:])) as ctx:
        return server.namespace(argv[0], ctx.params)


if __name__ == "__main__":
    sys.exit(main())
