"""``stepwell.Client``: send events, invoke functions and send signals to a server over HTTP,
from code that is not a function (a FastAPI or Starlette view, a script).

Settings come from the arguments, then ``STEPWELL_*``, then ``INNGEST_*`` variables, as the
official SDK reads them: ``*_DEV`` (dev mode, maybe the server's URL), ``*_BASE_URL``,
``*_API_BASE_URL``, ``*_EVENT_API_BASE_URL``, ``*_EVENT_KEY``, ``*_SIGNING_KEY``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar
from urllib.parse import urljoin, urlparse

import httpx

from stepwell.core.runs import RunStatus
from stepwell.engine.invocation import InvocationError
from stepwell.protocol import signing
from stepwell.protocol.events import Event
from stepwell.sdk.events import is_event_data, to_event
from stepwell.sdk.serve.client import ApiClient, ApiError
from stepwell.sdk.serve.config import (
    CLOUD_API_ORIGIN,
    CLOUD_EVENT_ORIGIN,
    DEV_EVENT_KEY,
    DEV_SERVER_ORIGIN,
    Mode,
    ServeConfig,
)

if TYPE_CHECKING:
    from stepwell.sdk.event_data import EventData

__all__ = ["ApiError", "Client"]

R = TypeVar("R")
SendInput: TypeAlias = "EventData | Event | Mapping[str, Any]"
DEFAULT_INVOKE_TIMEOUT_S = 60.0
_POLL_FIRST_S, _POLL_MAX_S = 0.02, 0.5


def _setting(env: Mapping[str, str], name: str) -> str | None:
    return env.get(f"STEPWELL_{name}") or env.get(f"INNGEST_{name}") or None


def _dev(env: Mapping[str, str]) -> tuple[bool, str | None]:
    """Whether ``*_DEV`` asks for dev mode, and the server URL it carries if any."""
    raw = _setting(env, "DEV")
    if raw is None or raw.strip().lower() in ("0", "false", "no", "off", ""):
        return False, None
    return True, raw if urlparse(raw).scheme in ("http", "https") else None


def _origin(url: str) -> str:
    return url if url.endswith("/") else url + "/"


class Client:
    """A client of a Stepwell (or Inngest) server for apps served over HTTP."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        event_key: str | None = None,
        signing_key: str | None = None,
        is_dev: bool | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        dev_flag, dev_url = _dev(env)
        dev = dev_flag if is_dev is None else is_dev
        shared = _setting(env, "BASE_URL")
        default_api = DEV_SERVER_ORIGIN if dev else CLOUD_API_ORIGIN
        default_events = DEV_SERVER_ORIGIN if dev else CLOUD_EVENT_ORIGIN
        api = base_url or _setting(env, "API_BASE_URL") or shared or dev_url or default_api
        events = base_url or _setting(env, "EVENT_API_BASE_URL") or shared or dev_url
        self._config = ServeConfig(
            mode=Mode.DEV if dev else Mode.CLOUD,
            api_origin=_origin(api),
            event_origin=_origin(events or default_events),
            signing_key=signing_key or _setting(env, "SIGNING_KEY"),
            signing_key_fallback=_setting(env, "SIGNING_KEY_FALLBACK"),
            event_key=event_key or _setting(env, "EVENT_KEY") or (DEV_EVENT_KEY if dev else None),
            env=_setting(env, "ENV"),
            serve_origin=None,
            serve_path=None,
            allow_unsigned_sync=False,
        )
        self._api = ApiClient(self._config, "client")

    @property
    def api_origin(self) -> str:
        return self._config.api_origin

    @property
    def event_origin(self) -> str:
        return self._config.event_origin

    # -- events ---------------------------------------------------------------------------------

    async def send(self, events: SendInput | Sequence[SendInput]) -> list[str]:
        """Send one event or several (``Event``, ``EventData`` instances, dicts); returns
        their ids. A lost answer is retried with the same ids (the server dedupes)."""
        items: list[SendInput] = (
            [events]
            if isinstance(events, Event | Mapping) or is_event_data(events)
            else list(events)
        )
        batch = [_as_event(item) for item in items]
        return await self._api.send_events(batch)

    def send_sync(self, events: SendInput | Sequence[SendInput]) -> list[str]:
        """``send`` for plain ``def`` code (Flask, Django, scripts, a notebook cell)."""
        return _blocking(self.send(events))

    def send_signal_sync(self, signal: str, data: Any = None) -> str | None:
        """``send_signal`` for plain ``def`` code."""
        return _blocking(self.send_signal(signal, data))

    def invoke_sync(
        self,
        function: Any,
        data: Mapping[str, Any] | EventData | None = None,
        *,
        timeout: float = DEFAULT_INVOKE_TIMEOUT_S,
    ) -> Any:
        """``invoke`` for plain ``def`` code."""
        return _blocking(self.invoke(function, data, timeout=timeout))

    # -- signals and invocations ----------------------------------------------------------------

    async def send_signal(self, signal: str, data: Any = None) -> str | None:
        """Deliver ``signal`` to the run waiting for it; that run's id, or None if none is."""
        async with httpx.AsyncClient(timeout=30.0) as client:
            response = await self._request(
                client, "POST", "/v1/signals", json={"signal": signal, "data": data}
            )
        if response.status_code == 404:
            return None
        body = self._ok(response, "send the signal")
        run_id = (body.get("data") or {}).get("run_id")
        return None if run_id is None else str(run_id)

    async def invoke(
        self,
        function: Any,
        data: Mapping[str, Any] | EventData | None = None,
        *,
        timeout: float = DEFAULT_INVOKE_TIMEOUT_S,
    ) -> Any:
        """Run ``function`` (a ``stepwell.Function`` or its slug) with ``data`` and return its
        result (decoded as its return type for a ``Function``). Raises ``InvocationError`` if
        the run fails or is cancelled, ``TimeoutError`` after ``timeout`` seconds."""
        slug = function if isinstance(function, str) else str(function.slug)
        payload = data.to_event().data if is_event_data(data) else dict(data or {})
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=30.0) as client:
            started = await self._request(client, "POST", f"/invoke/{slug}", json={"data": payload})
            event_id = str(self._ok(started, f"invoke {slug}")["id"])
            run = await self._ended_run(client, event_id, deadline, slug)
        status = RunStatus(run["status"])
        if status is RunStatus.COMPLETED:
            output = run.get("output")
            return output if isinstance(function, str) else function.decode_output(output)
        error = run.get("output") or {}
        error = error if isinstance(error, dict) else {}
        raise InvocationError(
            str(run["run_id"]),
            status,
            str(error.get("name") or status.value),
            str(error.get("message") or ""),
        )

    async def _ended_run(
        self, client: httpx.AsyncClient, event_id: str, deadline: float, slug: str
    ) -> dict[str, Any]:
        """Poll the invocation's run until it ends (backing off), at most until ``deadline``."""
        delay = _POLL_FIRST_S
        while True:
            reply = await self._request(client, "GET", f"/v1/events/{event_id}/runs")
            runs = self._ok(reply, "read the invoked run").get("data") or []
            ended = [r for r in runs if RunStatus(r["status"]).is_terminal]
            if ended:
                return dict(ended[0])
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"the invoked run of {slug} did not end in time")
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX_S)

    # -- plumbing -------------------------------------------------------------------------------

    async def _request(
        self, client: httpx.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        url = urljoin(self._config.api_origin, path.lstrip("/"))
        keys: list[str | None] = list(self._config.signing_keys) or [None]
        response: httpx.Response | None = None
        for key in keys:  # the fallback key only after a refusal (key rotation)
            headers = {"Authorization": f"Bearer {signing.hashed_key(key)}"} if key else {}
            try:
                response = await client.request(method, url, headers=headers, **kwargs)
            except httpx.HTTPError as exc:
                raise ApiError(f"failed request to {url}: {exc}") from exc
            if response.status_code not in (401, 403):
                break
        assert response is not None
        return response

    @staticmethod
    def _ok(response: httpx.Response, what: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code >= 400 or not isinstance(body, dict):
            detail = body.get("error") if isinstance(body, dict) else response.text[:200]
            raise ApiError(f"could not {what} ({response.status_code}): {detail}")
        return body


def _as_event(item: SendInput) -> Event:
    converted = to_event(item)
    return converted if isinstance(converted, Event) else Event.from_wire(dict(converted))


def _blocking(call: Coroutine[Any, Any, R]) -> R:
    """Run ``call`` to its end from synchronous code. With no loop running in this thread,
    on a loop of its own; with one (a notebook, sync code called from async code),
    ``asyncio.run`` cannot nest, so on a thread of its own while this one waits."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(call)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stepwell-client") as pool:
        return pool.submit(asyncio.run, call).result()
