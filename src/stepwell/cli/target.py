"""Where the run commands work: a server over its REST API (``--url``), or a database
(``--database``). Both answer the same shapes (``stepwell.server.rest_shapes``'s ``/v2``
records), so tables and ``--json`` do not depend on which one was asked.

On a database, reads open SQLite read-only (the engine that owns the file may run at any time)
and PostgreSQL as it is; actions open an engine that executes nothing, as ``stepwell ui``
does: the processes that own the functions run the work it commits. A SQLite file another
process owns takes no actions from here: act through that process's server instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from stepwell.cli.local import Local
from stepwell.cli.remote import Remote, TargetError

__all__ = ["Target", "TargetError", "target_options"]

Target = Remote | Local
F = TypeVar("F", bound=Callable[..., Any])


def target_options(function: F) -> F:
    """``--url``/``--signing-key``/``--database``/``--json``: the command gets ``target`` and
    ``as_json`` instead."""

    @click.option("--url", default=None, help="a server's URL ($STEPWELL_URL)")
    @click.option(
        "--signing-key",
        default=None,
        help="the server's signing key, when it runs in production ($STEPWELL_SIGNING_KEY)",
    )
    @click.option(
        "--database", default=None, help="work straight on this database URL, not a server"
    )
    @click.option("--json", "as_json", is_flag=True, help="print JSON, for scripts")
    @wraps(function)
    def wrapper(
        url: str | None, signing_key: str | None, database: str | None, **kwargs: Any
    ) -> Any:
        kwargs["target"] = choose(url, signing_key, database)
        return function(**kwargs)

    return wrapper  # type: ignore[return-value]


def choose(url: str | None, signing_key: str | None, database: str | None) -> Target:
    if url and database:
        raise click.UsageError("give --url or --database, not both")
    if database:
        return Local(database)
    server = url or os.environ.get("STEPWELL_URL") or "http://127.0.0.1:8288"
    key = signing_key or os.environ.get("STEPWELL_SIGNING_KEY") or None
    return Remote(server, key)
