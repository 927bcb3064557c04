"""What a function receives: its event(s), run id, attempt, a replay-aware logger, the steps."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any, Generic, TypeVar

from stepwell.protocol.events import Event
from stepwell.sdk.group import Group, SyncGroup
from stepwell.sdk.runtime import StepSession
from stepwell.sdk.step import Step, SyncStep

StepT = TypeVar("StepT", Step, SyncStep)


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


class BaseContext(Generic[StepT]):
    def __init__(self, session: StepSession, step: StepT, logger: logging.Logger) -> None:
        self._session = session
        self.events = [Event.from_wire(raw) for raw in session.events]
        self.event = self.events[0] if self.events else Event(name="")
        self.run_id = session.run_id
        self.step: StepT = step
        self.group: Group | SyncGroup = step.group  # ctx.group.parallel; each subclass narrows it
        self.logger = ReplayAwareLogger(logger, session)

    @property
    def attempt(self) -> int:
        """0-based attempt of the current step (or of the function, outside steps)."""
        return self._session.attempt


class Context(BaseContext[Step]):
    """The context of an ``async def`` function."""

    group: Group


class SyncContext(BaseContext[SyncStep]):
    """The context of a plain ``def`` function (run in a worker thread)."""

    group: SyncGroup
