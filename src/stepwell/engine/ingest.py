"""Validation at the boundary: an event is refused whole, with a precise reason, or accepted."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from stepwell.core.errors import StepwellError
from stepwell.core.ids import new_ulid, new_ulids
from stepwell.core.json_values import JsonValueError, dumps, dumps_loaded, utf8_size
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


def _accept(
    index: int,
    raw: EventInput,
    now_ms: int,
    max_bytes: int,
    allow_internal: bool,
    internal_id: str,
) -> StoredEvent:
    """One event of any form, checked and encoded strictly (``dumps``): its values may be
    anything a caller built (NaN, an Enum, a lone surrogate)."""
    event: Event | None = None
    if isinstance(raw, Mapping):
        name, data, event_id, ts, user, v = _mapping_fields(index, raw)
    else:
        if isinstance(raw, Event):
            event = raw
        elif isinstance(raw, SendsAsEvent):
            event = raw.to_event()
        else:
            raise InvalidEventError(index, f"expected an event object, got {type(raw).__name__}")
        name, data, event_id, ts = event.name, event.data, event.id, event.ts
        user, v = event.user, event.v
    _check(index, name, data, event_id, ts, user, v, allow_internal)
    try:
        # Strict: NaN, infinities and lone surrogates would be stored, then break every read.
        # Each part is encoded once: the wire's size and the stored body are made of them.
        data_json, user_json = dumps(data), dumps(user)
        v_json = "null" if v is None else dumps(v)
        wire_json = (
            f'{{"name":{dumps(name)},"data":{data_json},"id":{dumps(event_id)},'
            f'"ts":{dumps(ts)},"user":{user_json}' + ("}" if v is None else f',"v":{v_json}}}')
        )
    except JsonValueError as exc:
        raise _not_json(index, exc) from None
    _check_size(index, utf8_size(wire_json), max_bytes)
    given = data
    data = _stored_data(data, allow_internal)
    if data is not given:
        data_json = dumps(data)
    accepted = (
        event  # as it came: nothing to fill in or take out (no copy made)
        if event is not None and ts and data is given
        else Event(name, data, event_id, ts or now_ms, user, v)
    )
    return StoredEvent(
        internal_id, accepted, now_ms, f'{{"data":{data_json},"user":{user_json},"v":{v_json}}}'
    )


# The wire form ``{"name":N,"data":D,"id":I,"ts":T,"user":U[,"v":V]}`` is the stored body
# ``{"data":D,"user":U,"v":V}`` with N, I and T added: its size follows from the body's.
_WIRE_LESS_BODY = len('{"name":,"data":,"id":,"ts":,"user":,"v":}') - len('{"data":,"user":,"v":}')
_NULL_V = len(',"v":null')  # the wire form leaves out a v of null


_NAME_SIZES: dict[str, int] = {}
"""Bytes of the JSON of event names that passed every check, internal prefix included: a
batch repeats a few names, checked and measured here once. Emptied when it grows large."""
_MAX_NAMES = 4096


def _accept_loaded(
    events: Sequence[Any],
    now_ms: int,
    max_bytes: int,
    allow_internal: bool,
    ids: Sequence[str],
) -> list[StoredEvent]:
    """Events as ``json_values.loads`` read them: what the strict encoding refuses cannot be
    in them, so a body is encoded in one go and the size of its wire form derived from the
    body's. An event this does not accept as it stands goes through ``_accept``, which
    accepts it or words its refusal."""
    stored: list[StoredEvent] = []
    append = stored.append
    encode, sizes, fields = dumps_loaded, _NAME_SIZES, _FIELDS
    for i, raw in enumerate(events):
        internal_id = ids[i] or new_ulid()
        if type(raw) is dict and fields.issuperset(raw):
            get: Callable[[str], Any] = raw.get
            name, data, user, v = get("name"), get("data"), get("user"), get("v")
            event_id, ts = get("id") or "", get("ts") or 0
            if data is None:
                data = {}
            if user is None:
                user = {}
            name_size = sizes.get(name) if type(name) is str else None
            if (
                name_size is None
                and type(name) is str
                and _name_problem(name) is None
                and not is_internal_name(name)
            ):
                if len(sizes) >= _MAX_NAMES:
                    sizes.clear()
                name_size = sizes[name] = len(encode(name))
            if (
                name_size is not None  # an internal name, even allowed, is left to _accept
                and type(data) is dict
                and type(user) is dict
                and type(event_id) is str
                and (v is None or type(v) is str)
                and type(ts) is int  # a bool is not exactly an int
                and (not ts or MIN_TS_MS <= ts <= MAX_TS_MS)
            ):
                try:
                    body = encode({"data": data, "user": user, "v": v})
                    id_size = len(encode(event_id)) if event_id else 2
                except (TypeError, ValueError):  # not as loads makes values: _accept says
                    pass
                else:
                    size = len(body) + name_size + id_size + len(int.__repr__(ts))
                    size += _WIRE_LESS_BODY - (_NULL_V if v is None else 0)
                    if size <= max_bytes:
                        given = data
                        data = _stored_data(data, allow_internal)
                        if data is not given:
                            body = encode({"data": data, "user": user, "v": v})
                        event = Event(name, data, event_id, ts or now_ms, user, v)
                        append(StoredEvent(internal_id, event, now_ms, body.decode()))
                        continue
        append(_accept(i, raw, now_ms, max_bytes, allow_internal, internal_id))
    return stored


def _stored_data(data: dict[str, Any], allow_internal: bool) -> dict[str, Any]:
    """An event's data as stored: without the reserved ``_inngest`` key, unless the sender
    may send internal events (the same dict when there is nothing to take out)."""
    if allow_internal or "_inngest" not in data:
        return data
    return {k: value for k, value in data.items() if k != "_inngest"}


def _mapping_fields(index: int, raw: Mapping[str, Any]) -> tuple[Any, Any, Any, Any, Any, Any]:
    """An event object's name, data, id, ts, user and v, absent ones as their defaults."""
    if not _FIELDS.issuperset(raw):  # no set made for the common case
        raise InvalidEventError(index, f"unknown field(s) {sorted(set(raw) - _FIELDS)}")
    get = raw.get
    ts = get("ts") or 0
    if isinstance(ts, bool) or not isinstance(ts, int):
        raise InvalidEventError(index, "ts must be an integer of milliseconds since the epoch")
    data, user = get("data"), get("user")
    return (
        get("name"),
        data if data is not None else {},
        get("id") or "",
        ts,
        user if user is not None else {},
        get("v"),
    )


def _check(
    index: int,
    name: Any,
    data: Any,
    event_id: Any,
    ts: Any,
    user: Any,
    v: Any,
    allow_internal: bool,
) -> None:
    """Refuse an event's fields, the first that is wrong named (size and encoding apart)."""
    problem = _name_problem(name)
    if problem is not None:
        raise InvalidEventError(index, problem)
    if not allow_internal and is_internal_name(name):
        raise InvalidEventError(
            index, f"name {name!r} is reserved for internal use (prefix 'inngest/')"
        )
    if not isinstance(data, dict):
        raise InvalidEventError(index, f"data must be a JSON object, got {type(data).__name__}")
    if not isinstance(user, dict):
        raise InvalidEventError(index, "user must be a JSON object")
    if not isinstance(event_id, str):
        raise InvalidEventError(index, "id must be a string")
    if v is not None and not isinstance(v, str):
        raise InvalidEventError(index, "v must be a string")
    if ts and not MIN_TS_MS <= ts <= MAX_TS_MS:
        raise InvalidEventError(index, "ts must lie between 1980-01-01 and 2100-01-01")


def _name_problem(name: Any) -> str | None:
    """What is wrong with an event's name (the internal prefix apart), or None."""
    if not isinstance(name, str) or not name.strip():
        return "name must be a non-empty string"
    if not name.isprintable():
        return "name must not hold control characters"
    if len(name) > MAX_EVENT_NAME_LENGTH:
        return f"name is longer than {MAX_EVENT_NAME_LENGTH} characters"
    return None


def _not_json(index: int, exc: JsonValueError) -> InvalidEventError:
    return InvalidEventError(index, f"payload is not JSON serialisable: {exc}")


def _check_size(index: int, size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise InvalidEventError(
            index, f"payload is {size} bytes, over the limit of {max_bytes} bytes"
        )


def validate_batch(
    events: Sequence[EventInput],
    *,
    now_ms: int,
    max_bytes: int,
    allow_internal: bool = False,
    ids: Sequence[str] | None = None,
    check_data: DataCheck | None = None,
    loaded: bool = False,
) -> list[StoredEvent]:
    """All or nothing: one bad event refuses the whole batch before anything is stored.

    ``loaded``: the events are values ``json_values.loads`` returned (the event API's body),
    which need none of the strict encoding's checks."""
    if not events:
        raise InvalidEventError(0, "no events to send")
    if ids is None:
        ids = new_ulids(len(events))
    if loaded:
        stored = _accept_loaded(events, now_ms, max_bytes, allow_internal, ids)
    else:
        stored = [
            _accept(i, raw, now_ms, max_bytes, allow_internal, ids[i] or new_ulid())
            for i, raw in enumerate(events)
        ]
    if check_data is not None:
        for i, accepted in enumerate(stored):
            problem = check_data(accepted.event.name, accepted.event.data)
            if problem is not None:
                raise InvalidEventError(i, problem)
    return stored
