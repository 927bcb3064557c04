"""The step tools beyond run/sleep/events/invoke: ``fetch``, ``ai``, ``wait_for_signal`` and
``group`` (``ctx.group`` is the same object). ``Step`` and ``SyncStep`` take them in as mixins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from stepwell.protocol.durations import format_duration, to_timedelta
from stepwell.protocol.ops import Op, Opcode
from stepwell.sdk.ai import AI, SyncAI
from stepwell.sdk.fetch import FetchBody, FetchResponse, fetch_opts, response_from_memo
from stepwell.sdk.group import Group, SyncGroup
from stepwell.sdk.runtime import StepSession, unwrap_memo
from stepwell.sdk.types import Duration

__all__ = ["AsyncTools", "OnConflict", "SyncTools"]

OnConflict = Literal["replace", "fail"]


def _fetch_op(
    session: StepSession, step_id: str, opts: dict[str, Any]
) -> tuple[FetchResponse | None, Op | None]:
    """The stored response if the request was made; otherwise the ``Gateway`` op to make it."""
    unique, hashed, memo = session.begin(step_id)
    if memo is not None:
        return response_from_memo(unwrap_memo(unique, memo)), None
    return None, Op(Opcode.GATEWAY, hashed, name=unique, display_name=unique, opts=opts)


def _wait_for_signal(
    session: StepSession, step_id: str, signal: str, timeout: Duration, on_conflict: str
) -> Any:
    if on_conflict not in ("replace", "fail"):
        raise ValueError(f"on_conflict must be 'replace' or 'fail', not {on_conflict!r}")
    if not signal:
        raise ValueError("wait_for_signal needs a signal name")
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
        return Group()

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
        self, step_id: str, *, signal: str, timeout: Duration, on_conflict: OnConflict = "replace"
    ) -> Any:
        """The data sent with ``signal`` (``engine.send_signal``, ``POST /v1/signals``), or None
        if ``timeout`` passes first."""
        return _wait_for_signal(self._session, step_id, signal, timeout, on_conflict)


class SyncTools:
    _session: StepSession

    @property
    def ai(self) -> SyncAI:
        return SyncAI(self._session)

    @property
    def group(self) -> SyncGroup:
        return SyncGroup()

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
        self, step_id: str, *, signal: str, timeout: Duration, on_conflict: OnConflict = "replace"
    ) -> Any:
        return _wait_for_signal(self._session, step_id, signal, timeout, on_conflict)
