"""What the read SQL of the two stores differs in: a ``Dialect`` each adapter supplies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Dialect:
    placeholder: str
    """How a parameter is written: ``?`` (SQLite) or ``%s`` (psycopg)."""
    insertion_order: str
    """The column that orders rows as they were inserted: ``rowid``, or an identity ``seq``."""
    arrays: bool
    """Whether a list can be one parameter (``col = ANY (%s)``), or is spelled out
    (``col IN (?, ?, …)``)."""
    spans_in_steps: bool = False
    """Whether a settled step's span is kept in its ``steps`` row (``store/sqlite/spans.py``)
    rather than in ``spans``: reads then merge the two."""

    def sql(self, text: str) -> str:
        """``text``, written with ``?`` parameters, in this dialect's style."""
        if self.placeholder == "?":
            return text
        return text.replace("%", "%%").replace("?", self.placeholder)

    def any_of(self, column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
        """A test that ``column`` is one of ``values`` (none: nothing matches)."""
        if not values:
            return "1 = 0", []
        if self.arrays:
            return f"{column} = ANY (?)", [list(values)]
        return f"{column} IN ({', '.join('?' * len(values))})", list(values)


SQLITE = Dialect(placeholder="?", insertion_order="rowid", arrays=False, spans_in_steps=True)
POSTGRES = Dialect(placeholder="%s", insertion_order="seq", arrays=True)
