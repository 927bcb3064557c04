"""What the commands print: tables for people, JSON for scripts, progress on long work.

Rich is imported only when a table, a timeline or a progress bar is drawn, so ``--json`` and
``--help`` never load it. Progress goes to standard error, and only to a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from rich.console import Console

T = TypeVar("T")


def console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Piped into a file or a test, there is no terminal width to fit: wide enough for ids.
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, sort_keys=False, default=str) + "\n")


def fail(message: str, code: int = 1) -> int:
    print(f"stepwell: {message}", file=sys.stderr)
    return code


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    from rich.table import Table

    shown = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        shown.add_column(column, overflow="fold")
    count = 0
    for row in rows:
        shown.add_row(*("" if cell is None else str(cell) for cell in row))
        count += 1
    out = console()
    if count:
        out.print(shown)
    else:
        out.print(f"no {title.lower() if title else 'rows'}")


def details(pairs: Sequence[tuple[str, Any]]) -> None:
    out = console()
    width = max(len(key) for key, _ in pairs)
    for key, value in pairs:
        if isinstance(value, dict | list):
            value = json.dumps(value, default=str)
        out.print(f"[bold]{key.ljust(width)}[/bold]  {'' if value is None else value}")


def short(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@contextmanager
def spinner(label: str, *, quiet: bool = False) -> Iterator[None]:
    """Work of unknown length (a prune, a migration, a bulk cancel on the server)."""
    if quiet or not sys.stderr.isatty():
        yield
        return
    with console(stderr=True).status(label):
        yield


@contextmanager
def counting(label: str, *, quiet: bool = False) -> Iterator[Callable[[str], None]]:
    """Work of unknown length that reports as it goes (a prune, batch by batch): a live bar
    with the counts so far. Yields the function that updates them."""
    if quiet or not sys.stderr.isatty():
        yield lambda text: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda text: bar.update(task, description=f"{label}: {text}")


def progress(items: Sequence[T], label: str, *, quiet: bool = False) -> Iterator[T]:
    """Each of ``items``, with a progress bar while they are worked through."""
    if quiet or not sys.stderr.isatty() or len(items) < 2:
        yield from items
        return
    from rich.progress import Progress

    with Progress(console=console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=len(items))
        for item in items:
            yield item
            bar.advance(task)
