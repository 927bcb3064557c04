"""Calls the server makes on a function's behalf: ``step.fetch`` and ``step.ai.infer`` (§5.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stepwell.core.errors import error_payload
from stepwell.core.memo import wrap_data, wrap_error
from stepwell.protocol.durations import DurationError, parse_duration
from stepwell.protocol.ops import Op, Opcode

if TYPE_CHECKING:
    import httpx

# In process there is no long-lived client: each request gets one, patient enough for a model
# (seconds: 600 in all, 10 to connect). httpx is imported on the first such request, not at
# start-up (~120 ms): an embedded app that never fetches never loads it.
_OWN_CLIENT_TIMEOUT_S, _OWN_CLIENT_CONNECT_S = 600.0, 10.0


async def perform_gateway(op: Op, client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    """The memo of a ``Gateway`` or ``AIGateway`` op; without a client, with one of its own."""
    if client is None:
        import httpx

        timeout = httpx.Timeout(_OWN_CLIENT_TIMEOUT_S, connect=_OWN_CLIENT_CONNECT_S)
        async with httpx.AsyncClient(timeout=timeout) as own:
            return await perform_gateway(op, own)
    if op.op is Opcode.GATEWAY:
        return await perform_fetch(client, op.opts)
    return await perform_ai_request(client, op.opts)


async def perform_fetch(client: httpx.AsyncClient, opts: dict[str, Any]) -> dict[str, Any]:
    """A ``Gateway`` op: the memo is ``{"data": {url, headers, body, status_code}}``."""
    import httpx

    url = str(opts.get("url", ""))
    try:
        response = await client.request(
            str(opts.get("method") or "GET"),
            url,
            headers={str(k): str(v) for k, v in (opts.get("headers") or {}).items()},
            content=_content(opts.get("body")),
            **_timeout(opts.get("timeout")),
        )
    except httpx.HTTPError as exc:
        return wrap_error(error_payload("GatewayError", f"Error making gateway request: {exc}"))
    headers: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return wrap_data(
        {
            "url": str(response.url),
            "headers": headers,
            "body": response.text,
            "status_code": response.status_code,
        }
    )


# The Messages API refuses requests without a version; Python's adapter drops its default one
# when given extra headers, so the one it would have sent is added back.
ANTHROPIC_VERSION = "2023-06-01"


def ai_request_auth(opts: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    """The headers and query parameters of an ``AIGateway`` op's request: the adapter's
    headers, plus the key where the provider format takes it (header names compared
    case-insensitively; what the adapter set wins):

    * ``openai-chat``, ``openai-responses``, ``grok``, ``deepseek`` (and unknown formats,
      OpenAI-compatible): ``Authorization: Bearer <key>``;
    * ``anthropic``: ``x-api-key: <key>`` and ``anthropic-version``;
    * ``gemini``: ``?key=<key>``, unless the URL has it already (the official adapters);
    * ``azure-openai``: ``api-key: <key>`` (the adapter sends it already);
    * ``bedrock``: the key as ``Authorization`` as it is.
    """
    import httpx

    headers = httpx.Headers({str(k): str(v) for k, v in (opts.get("headers") or {}).items()})
    key = str(opts.get("auth_key") or "")
    fmt = opts.get("format")
    params: dict[str, str] = {}
    if fmt == "anthropic":
        headers.setdefault("anthropic-version", ANTHROPIC_VERSION)
    if key:
        if fmt == "anthropic":
            headers.setdefault("x-api-key", key)
        elif fmt == "gemini":
            if "key" not in httpx.URL(str(opts.get("url", ""))).params:
                params["key"] = key
        elif fmt == "azure-openai":
            headers.setdefault("api-key", key)
        elif fmt == "bedrock":
            headers.setdefault("Authorization", key)
        else:
            headers.setdefault("Authorization", f"Bearer {key}")
    return dict(headers.items()), params


async def perform_ai_request(client: httpx.AsyncClient, opts: dict[str, Any]) -> dict[str, Any]:
    """An ``AIGateway`` op: POST the body to the provider with its kind of authentication."""
    import httpx

    url = str(opts.get("url", ""))
    headers, params = ai_request_auth(opts)
    if params:  # merged into the URL's own query (an empty ``params=`` would drop it)
        url = str(httpx.URL(url).copy_merge_params(params))
    try:
        response = await client.post(url, json=opts.get("body"), headers=headers)
    except httpx.HTTPError as exc:
        return wrap_error(error_payload("AIGatewayError", f"Error making AI request: {exc}"))
    if 200 <= response.status_code < 300:
        try:
            return wrap_data(response.json())
        except ValueError:
            return wrap_data(response.text)
    return wrap_error(
        error_payload(
            "AIGatewayError",
            f"Error making AI request: the provider answered {response.status_code}",
            response.text,
        )
    )


def _timeout(value: Any) -> dict[str, Any]:
    """Our extension: ``opts.timeout`` (a duration string) bounds one fetch."""
    if not isinstance(value, str) or not value:
        return {}
    try:
        return {"timeout": parse_duration(value).total_seconds()}
    except DurationError:
        return {}


def _content(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    return str(body).encode("utf-8")
