"""Framework-neutral HTTP messages: each adapter turns its request into ``HttpRequest`` and
writes the ``HttpResponse`` back, so the three adapters share every decision."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any
from urllib.parse import parse_qsl, urlsplit

try:
    SDK_VERSION = metadata.version("stepwell")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    SDK_VERSION = "0.0.0"
SDK_NAME = f"stepwell-py:v{SDK_VERSION}"
"""``X-Inngest-SDK``: its presence is how a server tells an SDK's answer from a proxy's."""
SDK_REGISTER = f"py:v{SDK_VERSION}"
"""The registration payload's ``sdk`` (``language:version``)."""
EXECUTION_VERSION = "2"
"""``X-Inngest-Req-Version``: optimised parallelism (protocol.md §9)."""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str
    """Absolute URL as the framework saw it, query included."""
    headers: Mapping[str, str]
    """Lower-cased names."""
    body: bytes = b""
    caller_gone: Callable[[], bool] | None = field(default=None, compare=False)
    """Whether the caller has hung up (None: the framework cannot tell). A call whose server
    went away stops running ahead of it: the steps it runs now only have to run again."""

    @classmethod
    def build(
        cls,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        caller_gone: Callable[[], bool] | None = None,
    ) -> HttpRequest:
        lowered = {k.lower(): v for k, v in headers.items()}
        return cls(method.upper(), url, lowered, body, caller_gone)

    @property
    def query(self) -> dict[str, str]:
        """First value of each query parameter."""
        params: dict[str, str] = {}
        for key, value in parse_qsl(urlsplit(self.url).query, keep_blank_values=True):
            params.setdefault(key, value)
        return params

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(slots=True)
class HttpResponse:
    status: int
    body: bytes = b"null"
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.body)


def json_response(
    status: int, value: Any, headers: Mapping[str, str] | None = None
) -> HttpResponse:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return HttpResponse(status, body, {"Content-Type": "application/json", **(headers or {})})


def error_response(
    code: str,
    message: str,
    *,
    name: str = "Error",
    status: int = 500,
    stack: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> HttpResponse:
    """The Python SDK's error body: ``{"code", "message", "name"[, "stack"]}``."""
    body: dict[str, Any] = {"code": code, "message": message, "name": name}
    if stack is not None:
        body["stack"] = stack
    return json_response(status, body, headers)


def sdk_headers(
    *, framework: str | None, env: str | None, expected_server_kind: str | None = None
) -> dict[str, str]:
    """Headers on every request we send and every response we answer (PY ``create_headers``)."""
    headers = {
        "Content-Type": "application/json",
        "X-Inngest-SDK": SDK_NAME,
        "User-Agent": SDK_NAME,
        "X-Inngest-Req-Version": EXECUTION_VERSION,
    }
    if framework:
        headers["X-Inngest-Framework"] = framework
    if env:
        headers["X-Inngest-Env"] = env
    if expected_server_kind:
        headers["X-Inngest-Expected-Server-Kind"] = expected_server_kind
    return headers
