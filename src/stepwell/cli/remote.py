"""The run commands' target over a server's REST API (``/v1`` and ``/v2``)."""

from __future__ import annotations

from typing import Any

import httpx


class TargetError(Exception):
    """What went wrong, worded for the person at the terminal."""


class Remote:
    def __init__(self, url: str, signing_key: str | None) -> None:
        self.url = url.rstrip("/")
        self.key = signing_key
        self._headers = {"Authorization": f"Bearer {signing_key}"} if signing_key else {}
        self.where = self.url

    async def __aenter__(self) -> Remote:
        self._client = httpx.AsyncClient(base_url=self.url, headers=self._headers, timeout=30.0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: Any = None,
        timeout: float = 30.0,
        ok: tuple[int, ...] = (200,),
    ) -> Any:
        try:
            response = await self._client.request(
                method, path, params=params, json=body, timeout=timeout
            )
        except httpx.HTTPError as exc:
            raise TargetError(f"could not reach {self.url}: {exc or type(exc).__name__}") from None
        if response.status_code not in ok:
            try:
                message = response.json().get("error") or response.text
            except ValueError:
                message = response.text[:200]
            if response.status_code == 401:
                message += " (give the server's key: --signing-key or $STEPWELL_SIGNING_KEY)"
            raise TargetError(f"{method} {path}: {response.status_code}: {message}")
        return response.json()

    # -- runs ------------------------------------------------------------------------------

    async def runs(
        self,
        *,
        functions: list[str],
        statuses: list[str],
        since: int | None,
        limit: int,
        cursor: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {"limit": limit}
        if functions:
            params["function_id"] = ",".join(functions)
        if statuses:
            params["status"] = ",".join(statuses)
        if since is not None:
            params["from"] = since
        if cursor:
            params["cursor"] = cursor
        answer = await self.call("GET", "/v2/runs", params=params)
        return answer["data"], answer["page"]["cursor"]

    async def trace(self, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        data = (await self.call("GET", f"/v2/runs/{run_id}/trace"))["data"]
        return data["run"], data["spans"]

    async def cancel(self, run_id: str) -> dict[str, Any]:
        data: dict[str, Any] = (await self.call("POST", f"/v2/runs/{run_id}/cancel"))["data"]
        return data

    async def cancel_many(
        self, function: str, since: int | None, until: int | None, condition: str | None
    ) -> list[str]:
        body = {"function_id": function, "started_after": since, "started_before": until}
        if condition:
            body["if"] = condition
        ids: list[str] = (await self.call("POST", "/v1/cancellations", body=body))[
            "cancelled_run_ids"
        ]
        return ids

    async def rerun(self, run_id: str, from_step: str | None) -> str:
        body = {"from_step": from_step} if from_step else {}
        answer = await self.call("POST", f"/v2/runs/{run_id}/rerun", body=body)
        return str(answer["data"]["run_id"])

    # -- events ----------------------------------------------------------------------------

    async def events(self, *, name: str | None, limit: int) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if name:
            params["name"] = name
        data: list[dict[str, Any]] = (await self.call("GET", "/v1/events", params=params))["data"]
        return data

    async def event(self, event_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        event = (await self.call("GET", f"/v1/events/{event_id}"))["data"]
        runs = (await self.call("GET", f"/v1/events/{event_id}/runs"))["data"]
        return event, runs

    async def replay_event(self, event: dict[str, Any], event_key: str) -> list[str]:
        """Send the event again (a new event, same name and data): new runs start."""
        body = {"name": event["name"], "data": event.get("data") or {}}
        if event.get("user"):
            body["user"] = event["user"]
        ids: list[str] = (await self.call("POST", f"/e/{event_key}", body=body))["ids"]
        return ids

    # -- functions and apps ----------------------------------------------------------------

    async def apps(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = (await self.call("GET", "/v2/apps"))["data"]
        return data

    async def functions(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for app in await self.apps():
            found += (await self.call("GET", f"/v2/apps/{app['name']}/functions"))["data"]
        return found

    async def set_paused(self, slug: str, paused: bool) -> None:
        await self.call("POST", f"/v1/functions/{slug}/{'pause' if paused else 'resume'}")

    async def invoke(
        self, app: str, function: str, data: dict[str, Any], wait: float | None
    ) -> dict[str, Any]:
        params = {"wait": "true", "timeout": wait} if wait else None
        answer = await self.call(
            "POST",
            f"/v2/apps/{app}/functions/{function}/invoke",
            params=params,
            body={"data": data},
            timeout=(wait or 0) + 30.0,
            ok=(200, 202),
        )
        result: dict[str, Any] = answer["data"]
        return result

    async def sync(self, url: str) -> dict[str, Any]:
        data: dict[str, Any] = (await self.call("POST", "/v2/apps", body={"url": url}))["data"]
        return data

    async def remove(self, name: str) -> None:
        await self.call("DELETE", f"/v2/apps/{name}")
