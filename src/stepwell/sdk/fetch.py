"""``step.fetch``: an HTTP request the engine makes and remembers (protocol.md, ``Gateway``).

The op and its memo have the official SDKs' shape: opts ``{url, method, headers, body}``, memo
``{"data": {url, headers, body, status_code}}``. A replay reads the stored response; the
request is not made again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stepwell.protocol.durations import format_duration
from stepwell.sdk.flow_types import to_timedelta  # raises stepwell.DurationError
from stepwell.sdk.types import Duration

__all__ = ["FetchBody", "FetchResponse", "fetch_opts", "response_from_memo"]

FetchBody = str | bytes | dict[str, Any] | list[Any] | None
"""A request body: text, bytes (UTF-8), or a JSON value (sent as ``application/json``)."""


@dataclass(frozen=True, slots=True)
class FetchResponse:
    """What ``step.fetch`` returns: the response as it was stored."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    text: str = ""
    url: str = ""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def header(self, name: str) -> str | None:
        """A header by name, whatever its case (several values are joined with commas)."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def json(self) -> Any:
        return json.loads(self.text)


def fetch_opts(
    url: str,
    method: str,
    headers: Mapping[str, str] | None,
    body: FetchBody,
    timeout: Duration | None,
) -> dict[str, Any]:
    """The ``Gateway`` op's opts; ``timeout`` is our extension (our drivers bound the request)."""
    sent = {str(k): str(v) for k, v in (headers or {}).items()}
    text: str | None
    if isinstance(body, dict | list):
        text = json.dumps(body, separators=(",", ":"))
        if not any(k.lower() == "content-type" for k in sent):
            sent["Content-Type"] = "application/json"
    elif isinstance(body, bytes):
        text = body.decode("utf-8")  # the op travels as JSON: the body must be text
    else:
        text = body
    opts: dict[str, Any] = {"url": url, "method": method.upper(), "headers": sent}
    if text is not None:
        opts["body"] = text
    if timeout is not None:
        opts["timeout"] = format_duration(to_timedelta(timeout))
    return opts


def response_from_memo(value: Any) -> FetchResponse:
    """The stored ``{url, headers, body, status_code}`` as a ``FetchResponse``."""
    data = value if isinstance(value, dict) else {}
    headers = data.get("headers")
    return FetchResponse(
        status=int(data.get("status_code") or 0),
        headers={str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {},
        text=str(data.get("body") or ""),
        url=str(data.get("url") or ""),
    )
