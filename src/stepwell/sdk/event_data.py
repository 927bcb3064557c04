"""``stepwell.EventData``: the Pydantic base of typed event data, named by a class keyword.

Kept apart from ``sdk.events`` so that Pydantic is imported only by programs that declare a
typed event (or ask for ``stepwell.EventData``), not by ``import stepwell``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel

from stepwell.core.errors import ConfigError
from stepwell.protocol.events import Event


class EventData(BaseModel):
    """Base of typed event data; subclasses name their event: ``class X(EventData, name=...)``."""

    event_name: ClassVar[str] = ""

    def __init_subclass__(cls, *, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"{cls.__name__}: the event name must be a non-empty string")
            cls.event_name = name

    def to_event(self) -> Event:
        """This data as an event to send (the engine calls this on what it is given)."""
        if not type(self).event_name:
            raise ConfigError(f"{type(self).__name__} has no event name: declare it with name=...")
        return Event(name=type(self).event_name, data=self.model_dump(mode="json"))
