"""Typed events: what the SDK does with ``EventData`` classes, without importing Pydantic.

``class OrderPlaced(stepwell.EventData, name="shop/order.placed"): order_id: int`` declares
both the event's name and the shape of its data (the class lives in ``sdk.event_data``). The
engine stays free of Pydantic: the SDK hands it ``EventTypes.check`` (a plain callable) to
refuse sends whose data does not match. Pydantic is loaded only once a program touches
``stepwell.EventData``: until then no typed class can exist, and these helpers say so without
importing it (``import stepwell`` stays fast for apps that never declare a type).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic

from typing_extensions import TypeIs, TypeVar

from stepwell.core.errors import ConfigError, NonRetriableError
from stepwell.protocol.events import Event

if TYPE_CHECKING:
    from pydantic import ValidationError

    from stepwell.sdk.event_data import EventData

T = TypeVar("T", default=dict[str, Any])
E = TypeVar("E", bound="EventData")

_EVENT_DATA_MODULE = "stepwell.sdk.event_data"


def _event_data_base() -> type[EventData] | None:
    """The ``EventData`` class if some code has loaded it (else no typed class exists yet)."""
    module = sys.modules.get(_EVENT_DATA_MODULE)
    return None if module is None else module.EventData


def is_event_data(value: object) -> TypeIs[EventData]:
    """Whether ``value`` is an ``EventData`` instance."""
    base = _event_data_base()
    return base is not None and isinstance(value, base)


def __getattr__(name: str) -> Any:
    # ``from stepwell.sdk.events import EventData`` keeps working, loading Pydantic then.
    if name == "EventData":
        from stepwell.sdk.event_data import EventData

        return EventData
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
        if is_event_data(data):
            data = data.model_dump(mode="json")
        return Event(self.name, data, self.id, self.ts, self.user, self.v).to_wire()


def event_name(event: str | type[EventData]) -> str:
    if isinstance(event, str):
        return event
    data_type = typed_class(event)
    if data_type is not None and data_type.event_name:
        return data_type.event_name
    raise ConfigError(f"expected an event name or an EventData class with a name, got {event!r}")


def typed_class(event: object) -> type[EventData] | None:
    base = _event_data_base()
    if base is None or not isinstance(event, type) or not issubclass(event, base):
        return None
    return event


def validation_problem(exc: ValidationError) -> str:
    """Pydantic's message, which names each failing field."""
    return str(exc)


def parse_data(cls: type[E], data: Any, *, where: str) -> E:
    """Trigger data as its declared type; data that no longer fits fails the run at once."""
    from pydantic import ValidationError  # loaded already: ``cls`` is a Pydantic model

    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise NonRetriableError(f"{where}: {validation_problem(exc)}") from None


def to_event(item: EventData | Event | Mapping[str, Any]) -> Event | Mapping[str, Any]:
    return item.to_event() if is_event_data(item) else item


class EventTypes:
    """The EventData classes an app's functions are triggered by, by event name."""

    def __init__(self, classes: Iterable[type[EventData]] = ()) -> None:
        self._by_name: dict[str, type[EventData]] = {}
        for cls in classes:
            self.add(cls)

    def add(self, cls: type[EventData]) -> None:
        known = self._by_name.get(cls.event_name)
        if known is not None and known is not cls:
            raise ConfigError(
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
        from pydantic import ValidationError

        try:
            cls.model_validate(data)
        except ValidationError as exc:
            return f"data does not match {cls.__name__}: {validation_problem(exc)}"
        return None
