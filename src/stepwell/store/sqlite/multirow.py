"""Multi-row INSERTs: a few statements of many rows each, instead of ``executemany``.

``executemany`` steps its statement once per row, and every step releases the GIL. In a busy
process the writer thread must then take it back from the event loop's thread once per row,
which can wait a switch interval each time; one statement of 64 rows releases it once. Rows
go in statements of a power of two each (100 rows: 64, 32 and 4), so that few distinct
statements are prepared and cached.
"""

from __future__ import annotations

import functools
import sqlite3
from typing import Any

MAX_PARAMETERS = 999
"""Bound values per statement: the oldest SQLite limit, so that any build accepts them."""


@functools.cache
def _statement(head: str, row: str, tail: str, rows: int) -> str:
    return f"{head} VALUES {', '.join([row] * rows)}{tail}"


@functools.cache
def _shape(row: str) -> tuple[int, int]:
    """Values per row, and the most rows per statement (a power of two)."""
    width = row.count("?")
    fit = max(1, MAX_PARAMETERS // width)
    return width, 1 << (fit.bit_length() - 1)


def chunks(count: int, most: int) -> list[tuple[int, int]]:
    """``(first row, rows)`` of each statement for ``count`` rows: ``most`` (a power of two)
    at a time, then the powers of two of what is left."""
    pieces, at, left = [], 0, count
    while left:
        rows = min(most, 1 << (left.bit_length() - 1))
        pieces.append((at, rows))
        at, left = at + rows, left - rows
    return pieces


def insert_rows(
    cur: sqlite3.Cursor, head: str, row: str, values: list[Any], *, tail: str = ""
) -> None:
    """``head VALUES row, row, ... tail`` for ``values``, the rows' values one after another
    (``row`` is one row's ``(?, ?, ...)``, literals allowed)."""
    width, most = _shape(row)
    for first, rows in chunks(len(values) // width, most):
        at = first * width
        cur.execute(_statement(head, row, tail, rows), values[at : at + width * rows])
