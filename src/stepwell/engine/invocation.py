"""``engine.invoke``: what it sends and how it reads the run's ending.

An invocation is an ``inngest/function.invoked`` event addressed to one function (as
``POST /invoke/{slug}`` sends it), so the run it starts skips flow control like any invoked
run. The target decodes its own output: the engine knows nothing of the SDK's types.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, TypeVar

from stepwell.core.errors import StepwellError
from stepwell.core.runs import RunStatus
from stepwell.engine.ingest import SendsAsEvent
from stepwell.ports.records import RunRecord
from stepwell.protocol import events as names
from stepwell.protocol.events import Event

R_co = TypeVar("R_co", covariant=True)


class InvokeTarget(Protocol[R_co]):
    """A function ``engine.invoke`` can run: a ``stepwell.Function``."""

    @property
    def slug(self) -> str: ...

    def decode_output(self, output: Any) -> R_co:
        """The run's stored output as the function's declared return type."""
        ...


class InvocationError(StepwellError):
    """The invoked run failed or was cancelled; carries its error's name and message."""

    def __init__(self, run_id: str, status: RunStatus, name: str, message: str) -> None:
        self.run_id = run_id
        self.status = status
        self.error_name = name
        self.error_message = message
        super().__init__(f"run {run_id} {status.value}: {name}: {message}")


def invocation_event(slug: str, data: Mapping[str, Any] | SendsAsEvent | None) -> Event:
    if data is None:
        payload: dict[str, Any] = {}
    elif isinstance(data, Mapping):
        payload = dict(data)
    else:
        payload = dict(data.to_event().data)
    payload["_inngest"] = {"fn_id": slug}
    return Event(name=names.FUNCTION_INVOKED, data=payload)


def invocation_result(target: InvokeTarget[R_co], run: RunRecord) -> R_co:
    if run.status is RunStatus.COMPLETED:
        return target.decode_output(run.output)
    error = run.error or {}
    raise InvocationError(
        run.run_id,
        run.status,
        str(error.get("name") or run.status.value),
        str(error.get("message") or ""),
    )
