"""Typed events: ``EventData`` models named by a class keyword, and the checks they make.

``class OrderPlaced(stepwell.EventData, name="shop/order.placed"): order_id: int`` declares
both the event's name and the shape of its data. The engine stays free of Pydantic: the SDK
hands it ``EventTypes.check`` (a plain callable) to refuse sends whose data does not match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic

from pydantic import BaseModel, ValidationError
from typing_extensions import TypeVar

from stepwell.core.errors import NonRetriableError
from stepwell.protocol.events import Event

T = TypeVar("T", default=dict[str, Any])
E = TypeVar("E", bound="EventData")


class EventData(BaseModel):
    """Base of typed event data; subclasses name their event: ``class X(EventData, name=...)``."""

    event_name: ClassVar[str] = ""

    def __init_subclass__(cls, *, name: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if name is not None:
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"{cls.__name__}: the event name must be a non-empty string")
            cls.event_name = name

    def to_event(self) -> Event:
        """This data as an event to send (the engine calls this on what it is given)."""
        if not type(self).event_name:
            raise TypeError(f"{type(self).__name__} has no event name: declare it with name=...")
        return Event(name=type(self).event_name, data=self.model_dump(mode="json"))


@dataclass(slots=True)
class TypedEvent(Generic[T]):
    """``ctx.event``: an event whose ``data`` is the function's declared type (else a dict)."""

    name: str
    data: T
    id: str = ""
    ts: int = 0
    user: dict[str, Any] = field(default_factory=dict)
    v: str | None = None

    def to_wire(self) -> dict[str, Any]:
        data: Any = self.data
        if isinstance(data, BaseModel):
            data = data.model_dump(mode="json")
        return Event(self.name, data, self.id, self.ts, self.user, self.v).to_wire()


def event_name(event: str | type[EventData]) -> str:
    if isinstance(event, str):
        return event
    if isinstance(event, type) and issubclass(event, EventData) and event.event_name:
        return event.event_name
    raise TypeError(f"expected an event name or an EventData class with a name, got {event!r}")


def typed_class(event: object) -> type[EventData] | None:
    return event if isinstance(event, type) and issubclass(event, EventData) else None


def validation_problem(exc: ValidationError) -> str:
    """Pydantic's message, which names each failing field."""
    return str(exc)


def parse_data(cls: type[E], data: Any, *, where: str) -> E:
    """Trigger data as its declared type; data that no longer fits fails the run at once."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise NonRetriableError(f"{where}: {validation_problem(exc)}") from None


def to_event(item: EventData | Event | Mapping[str, Any]) -> Event | Mapping[str, Any]:
    return item.to_event() if isinstance(item, EventData) else item


class EventTypes:
    """The EventData classes an app's functions are triggered by, by event name."""

    def __init__(self, classes: Iterable[type[EventData]] = ()) -> None:
        self._by_name: dict[str, type[EventData]] = {}
        for cls in classes:
            self.add(cls)

    def add(self, cls: type[EventData]) -> None:
        known = self._by_name.get(cls.event_name)
        if known is not None and known is not cls:
            raise ValueError(
                f"event {cls.event_name!r} is declared by both {known.__name__} and {cls.__name__}"
            )
        self._by_name[cls.event_name] = cls

    def __bool__(self) -> bool:
        return bool(self._by_name)

    def check(self, name: str, data: Mapping[str, Any]) -> str | None:
        """Why ``data`` does not fit the event's declared type, or None (also when untyped)."""
        cls = self._by_name.get(name)
        if cls is None:
            return None
        try:
            cls.model_validate(data)
        except ValidationError as exc:
            return f"data does not match {cls.__name__}: {validation_problem(exc)}"
        return None
