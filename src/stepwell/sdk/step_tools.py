"""The step tools beyond run/sleep/events/invoke: ``fetch``, ``ai``, ``wait_for_signal``,
``send_signal`` and ``group`` (``ctx.group`` is the same object). ``Step`` and ``SyncStep``
take them in as mixins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from stepwell.core.errors import ConfigError
from stepwell.protocol.durations import format_duration
from stepwell.protocol.ops import Op, Opcode
from stepwell.sdk.ai import AI, SyncAI
from stepwell.sdk.fetch import FetchBody, FetchResponse, fetch_opts, response_from_memo
from stepwell.sdk.flow_types import to_timedelta  # raises stepwell.DurationError
from stepwell.sdk.group import Group, SyncGroup
from stepwell.sdk.runtime import StepSession, unwrap_memo
from stepwell.sdk.types import Duration

__all__ = ["SEND_SIGNAL", "AsyncTools", "OnConflict", "SyncTools"]

OnConflict = Literal["replace", "fail"]
SEND_SIGNAL = "step.sendSignal"


def _fetch_op(
    session: StepSession, step_id: str, opts: dict[str, Any]
) -> tuple[FetchResponse | None, Op | None]:
    """The stored response if the request was made; otherwise the ``Gateway`` op to make it."""
    unique, hashed, memo = session.begin(step_id)
    if memo is not None:
        return response_from_memo(unwrap_memo(unique, memo)), None
    return None, Op(Opcode.GATEWAY, hashed, name=unique, display_name=unique, opts=opts)


def _send_signal_op(
    session: StepSession, step_id: str, signal: str, data: Any
) -> tuple[str | None, Op | None]:
    """The stored run id if the signal was sent; otherwise the op whose checkpoint sends it
    (the engine plans the delivery into the same commit as the step's memo: exactly once)."""
    if not signal:
        raise ConfigError("send_signal needs a signal name")
    unique, hashed, memo = session.begin(step_id)
    if memo is not None:
        value = unwrap_memo(unique, memo)
        return (None if value is None else str(value)), None
    opts = {"type": SEND_SIGNAL, "signal": signal, "data": data}
    return None, Op(Opcode.STEP_RUN, hashed, name="sendSignal", display_name=unique, opts=opts)


def _wait_for_signal(
    session: StepSession, step_id: str, signal: str, timeout: Duration, on_conflict: str
) -> Any:
    if on_conflict not in ("replace", "fail"):
        raise ConfigError(f"on_conflict must be 'replace' or 'fail', not {on_conflict!r}")
    if not signal:
        raise ConfigError("wait_for_signal needs a signal name")
    opts = {
        "signal": signal,
        "timeout": format_duration(to_timedelta(timeout)),
        "conflict": on_conflict,
    }
    unique, memo = session.memo_or_suspend(
        step_id,
        lambda hashed, unique: Op(
            Opcode.WAIT_FOR_SIGNAL, hashed, name=signal, display_name=unique, opts=opts
        ),
    )
    value = unwrap_memo(unique, memo)  # {"signal", "data"}, or None on timeout
    return value.get("data") if isinstance(value, dict) else None


class AsyncTools:
    _session: StepSession

    @property
    def ai(self) -> AI:
        """``step.ai.infer``: a model request the engine makes once."""
        return AI(self._session)

    @property
    def group(self) -> Group:
        return Group(self._session)

    async def fetch(
        self,
        step_id: str,
        url: str,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: FetchBody = None,
        timeout: Duration | None = None,
    ) -> FetchResponse:
        """An HTTP request made once by the engine; a replay returns the stored response."""
        stored, op = _fetch_op(
            self._session, step_id, fetch_opts(url, method, headers, body, timeout)
        )
        if op is None:
            assert stored is not None
            return stored
        return response_from_memo(await self._session.run_gateway(op))

    async def wait_for_signal(
        self, step_id: str, *, signal: str, timeout: Duration, on_conflict: OnConflict = "fail"
    ) -> Any:
        """The data sent with ``signal`` (``send_signal``, ``POST /v1/signals``), or None if
        ``timeout`` passes first. A signal has one waiter: if another run already waits for
        it, ``"fail"`` (Inngest's default) fails this step, ``"replace"`` takes its place and
        the other run's wait ends as a timeout (None)."""
        return _wait_for_signal(self._session, step_id, signal, timeout, on_conflict)

    async def send_signal(self, step_id: str, *, signal: str, data: Any = None) -> str | None:
        """Deliver ``signal`` with ``data`` to the run waiting for it, exactly once; returns
        that run's id, or None if no run was waiting. A replay does not send it again."""
        sent, op = _send_signal_op(self._session, step_id, signal, data)
        if op is None:
            return sent
        result: str | None = await self._session.checkpoint_op(op)
        return result


class SyncTools:
    _session: StepSession

    @property
    def ai(self) -> SyncAI:
        return SyncAI(self._session)

    @property
    def group(self) -> SyncGroup:
        return SyncGroup(self._session)

    def fetch(
        self,
        step_id: str,
        url: str,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: FetchBody = None,
        timeout: Duration | None = None,
    ) -> FetchResponse:
        stored, op = _fetch_op(
            self._session, step_id, fetch_opts(url, method, headers, body, timeout)
        )
        if op is None:
            assert stored is not None
            return stored
        return response_from_memo(self._session.call_soon(self._session.run_gateway(op)))

    def wait_for_signal(
        self, step_id: str, *, signal: str, timeout: Duration, on_conflict: OnConflict = "fail"
    ) -> Any:
        return _wait_for_signal(self._session, step_id, signal, timeout, on_conflict)

    def send_signal(self, step_id: str, *, signal: str, data: Any = None) -> str | None:
        sent, op = _send_signal_op(self._session, step_id, signal, data)
        if op is None:
            return sent
        result: str | None = self._session.call_soon(self._session.checkpoint_op(op))
        return result
