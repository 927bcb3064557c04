"""Validation at the boundary: an event is refused whole, with a precise reason, or accepted."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from stepwell.core.errors import StepwellError
from stepwell.core.ids import new_ulid
from stepwell.core.json_values import JsonValueError, dumps, utf8_size
from stepwell.core.limits import MAX_EVENT_NAME_LENGTH
from stepwell.ports.records import StoredEvent
from stepwell.protocol.events import Event, is_internal_name

MIN_TS_MS = 315_532_800_000  # 1980-01-01
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01


class InvalidEventError(StepwellError, ValueError):
    """An event that cannot be accepted. ``index`` is its position in the batch sent."""

    def __init__(self, index: int, reason: str) -> None:
        self.index = index
        self.reason = reason
        super().__init__(f"event {index}: {reason}")


@runtime_checkable
class SendsAsEvent(Protocol):
    """Something that knows the event it stands for (the SDK's typed ``EventData``)."""

    def to_event(self) -> Event: ...


EventInput = Event | Mapping[str, Any] | SendsAsEvent

_FIELDS = frozenset({"name", "data", "id", "ts", "user", "v", "meta"})

DataCheck = Callable[[str, Mapping[str, Any]], str | None]
"""Why an event's data does not fit the type declared for its name, or None: the SDK's typed
events give one, so the engine needs to know nothing of how types are declared."""


def coerce_event(index: int, raw: EventInput) -> Event:
    if isinstance(raw, Event):
        return raw
    if not isinstance(raw, Mapping):  # checked first: a Protocol's isinstance is slow
        if isinstance(raw, SendsAsEvent):
            return raw.to_event()
        raise InvalidEventError(index, f"expected an event object, got {type(raw).__name__}")
    if not _FIELDS.issuperset(raw):  # no set made for the common case
        raise InvalidEventError(index, f"unknown field(s) {sorted(set(raw) - _FIELDS)}")
    data = raw.get("data")
    user = raw.get("user")
    ts = raw.get("ts") or 0
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise InvalidEventError(index, "ts must be an integer of milliseconds since the epoch")
    return Event(
        name=raw.get("name"),  # type: ignore[arg-type]  # checked in validate_event
        data=data if data is not None else {},
        id=raw.get("id") or "",
        ts=ts,
        user=user if user is not None else {},
        v=raw.get("v"),
    )


def validate_event(
    index: int,
    event: Event,
    *,
    now_ms: int,
    max_bytes: int,
    allow_internal: bool = False,
    internal_id: str | None = None,
) -> StoredEvent:
    if not isinstance(event.name, str) or not event.name.strip():
        raise InvalidEventError(index, "name must be a non-empty string")
    if not event.name.isprintable():
        raise InvalidEventError(index, "name must not hold control characters")
    if len(event.name) > MAX_EVENT_NAME_LENGTH:
        raise InvalidEventError(index, f"name is longer than {MAX_EVENT_NAME_LENGTH} characters")
    if not allow_internal and is_internal_name(event.name):
        raise InvalidEventError(
            index, f"name {event.name!r} is reserved for internal use (prefix 'inngest/')"
        )
    if not isinstance(event.data, dict):
        raise InvalidEventError(
            index, f"data must be a JSON object, got {type(event.data).__name__}"
        )
    if not isinstance(event.user, dict):
        raise InvalidEventError(index, "user must be a JSON object")
    if not isinstance(event.id, str):
        raise InvalidEventError(index, "id must be a string")
    if event.v is not None and not isinstance(event.v, str):
        raise InvalidEventError(index, "v must be a string")
    if event.ts and not MIN_TS_MS <= event.ts <= MAX_TS_MS:
        raise InvalidEventError(index, "ts must lie between 1980-01-01 and 2100-01-01")
    try:
        # Strict: NaN, infinities and lone surrogates would be stored, then break every read.
        # Each part is encoded once: the wire's size and the stored body are made of them.
        data_json, user_json = dumps(event.data), dumps(event.user)
        v_json = "null" if event.v is None else dumps(event.v)
        wire_json = (
            f'{{"name":{dumps(event.name)},"data":{data_json},"id":{dumps(event.id)},'
            f'"ts":{dumps(event.ts)},"user":{user_json}'
            + ("}" if event.v is None else f',"v":{v_json}}}')
        )
    except JsonValueError as exc:
        raise InvalidEventError(index, f"payload is not JSON serialisable: {exc}") from None
    size = utf8_size(wire_json)
    if size > max_bytes:
        raise InvalidEventError(
            index, f"payload is {size} bytes, over the limit of {max_bytes} bytes"
        )
    data = event.data
    if not allow_internal and "_inngest" in data:
        data = {k: v for k, v in data.items() if k != "_inngest"}
        data_json = dumps(data)
    accepted = (
        event  # as it came: nothing to fill in or take out (no copy made)
        if event.ts and data is event.data
        else Event(
            name=event.name,
            data=data,
            id=event.id,
            ts=event.ts or now_ms,
            user=event.user,
            v=event.v,
        )
    )
    return StoredEvent(
        internal_id=internal_id or new_ulid(),
        event=accepted,
        received_at=now_ms,
        body=f'{{"data":{data_json},"user":{user_json},"v":{v_json}}}',
    )


def validate_batch(
    events: Sequence[EventInput],
    *,
    now_ms: int,
    max_bytes: int,
    allow_internal: bool = False,
    ids: Sequence[str] | None = None,
    check_data: DataCheck | None = None,
) -> list[StoredEvent]:
    """All or nothing: one bad event refuses the whole batch before anything is stored."""
    if not events:
        raise InvalidEventError(0, "no events to send")
    stored = [
        validate_event(
            i,
            coerce_event(i, raw),
            now_ms=now_ms,
            max_bytes=max_bytes,
            allow_internal=allow_internal,
            internal_id=ids[i] if ids is not None else None,
        )
        for i, raw in enumerate(events)
    ]
    if check_data is not None:
        for i, accepted in enumerate(stored):
            problem = check_data(accepted.event.name, accepted.event.data)
            if problem is not None:
                raise InvalidEventError(i, problem)
    return stored
