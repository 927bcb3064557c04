"""Small types the SDK's modules share, so that none of them imports another just for a type.

``step`` takes a function to invoke without knowing ``Function`` (which is built from the step
tools): anything with a ``slug`` will do, and a ``Function`` has one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

Duration = timedelta | str | float
"""A ``timedelta``, a duration string (``"90s"``, ``"1h30m"``) or seconds."""


class Invocable(Protocol):
    """A function ``step.invoke`` can run: a ``stepwell.Function``."""

    @property
    def slug(self) -> str:
        """The function's id as registered: ``<app id>-<function id>``."""
        ...
