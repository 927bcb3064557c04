"""What a function receives: its event(s), run id, attempt, a replay-aware logger, the steps."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import TYPE_CHECKING, Any, Generic

from typing_extensions import TypeVar

from stepwell.sdk.events import TypedEvent, parse_data
from stepwell.sdk.group import Group, SyncGroup
from stepwell.sdk.runtime import StepSession
from stepwell.sdk.step import Step, SyncStep

if TYPE_CHECKING:
    from stepwell.sdk.event_data import EventData

StepT = TypeVar("StepT", Step, SyncStep)
T = TypeVar("T", default=dict[str, Any])
"""The type of ``ctx.event.data``: an ``EventData`` class, or a dict when untyped."""


class ReplayAwareLogger(logging.LoggerAdapter[logging.Logger]):
    """Drops records while the function replays steps it already ran, so lines aren't repeated."""

    def __init__(self, logger: logging.Logger, session: StepSession) -> None:
        super().__init__(logger, {"run_id": session.run_id})
        self._session = session

    def isEnabledFor(self, level: int) -> bool:  # logging's name
        return not self._session.replaying and self.logger.isEnabledFor(level)

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs.setdefault("extra", {}).update(self.extra or {})
        return msg, kwargs


def _typed_event(raw: dict[str, Any], data_type: type[EventData] | None) -> TypedEvent[Any]:
    data: Any = raw.get("data") or {}
    if data_type is not None:
        data = parse_data(data_type, data, where=f"event {raw.get('name')!r}")
    return TypedEvent(
        name=raw["name"],
        data=data,
        id=raw.get("id") or "",
        ts=int(raw.get("ts") or 0),
        user=raw.get("user") or {},
        v=raw.get("v"),
    )


class BaseContext(Generic[StepT, T]):
    def __init__(
        self,
        session: StepSession,
        step: StepT,
        logger: logging.Logger,
        data_type: type[EventData] | None = None,
    ) -> None:
        self._session = session
        # Parsed before the function starts: data that no longer fits fails the run at once.
        self.events: list[TypedEvent[T]] = [_typed_event(raw, data_type) for raw in session.events]
        self.event: TypedEvent[T] = self.events[0] if self.events else TypedEvent("", {})  # type: ignore[arg-type]
        self.run_id = session.run_id
        self.step: StepT = step
        self.group: Group | SyncGroup = step.group  # ctx.group.parallel; each subclass narrows it
        self.logger = ReplayAwareLogger(logger, session)

    @property
    def attempt(self) -> int:
        """0-based attempt of the current step (or of the function, outside steps)."""
        return self._session.attempt


class Context(BaseContext[Step, T]):
    """The context of an ``async def`` function; ``Context[OrderPlaced]`` types the event."""

    group: Group


class SyncContext(BaseContext[SyncStep, T]):
    """The context of a plain ``def`` function (run in a worker thread)."""

    group: SyncGroup
