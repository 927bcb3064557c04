"""``step.ai.infer``: a model request the engine makes and remembers (protocol.md,
``AIGateway``), and the adapters that say how each provider is called.

An adapter gives the op's ``url``, ``format`` (which names the provider's kind of
authentication: ``Authorization: Bearer`` for OpenAI, ``x-api-key`` for Anthropic, ``?key=``
for Gemini, as ``drivers.gateway`` applies it), ``auth_key`` and fixed headers; the body is the
provider's own request, with the adapter's model filled in. The memo is the provider's answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stepwell.protocol.ops import Op, Opcode
from stepwell.sdk.runtime import StepSession, unwrap_memo

__all__ = ["AI", "Adapter", "SyncAI", "anthropic", "gemini", "openai"]


@dataclass(frozen=True, slots=True)
class Adapter:
    """How one provider's model is called."""

    format: str
    url: str
    auth_key: str
    model: str
    headers: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Body fields filled in unless the body sets them (``model``, ``max_tokens``)."""

    def opts(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "type": "step.ai.infer",
            "url": self.url,
            "headers": dict(self.headers),
            "auth_key": self.auth_key,
            "format": self.format,
            "body": {**self.defaults, **body},
        }


def _join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path


def openai(*, api_key: str, model: str, base_url: str = "https://api.openai.com/v1/") -> Adapter:
    """OpenAI's chat completions (or any service that speaks them, through ``base_url``)."""
    return Adapter(
        format="openai-chat",
        url=_join(base_url, "chat/completions"),
        auth_key=api_key,
        model=model,
        defaults={"model": model},
    )


def anthropic(
    *,
    api_key: str,
    model: str,
    base_url: str = "https://api.anthropic.com/v1/",
    max_tokens: int = 4096,
    version: str = "2023-06-01",
) -> Adapter:
    """Anthropic's messages API; ``max_tokens`` is required there, so it has a default."""
    return Adapter(
        format="anthropic",
        url=_join(base_url, "messages"),
        auth_key=api_key,
        model=model,
        headers={"anthropic-version": version},
        defaults={"model": model, "max_tokens": max_tokens},
    )


def gemini(
    *,
    api_key: str,
    model: str,
    base_url: str = "https://generativelanguage.googleapis.com/v1beta/",
) -> Adapter:
    """Google's Gemini ``generateContent``: the model is named in the URL, not the body."""
    return Adapter(
        format="gemini",
        url=_join(base_url, f"models/{model}:generateContent"),
        auth_key=api_key,
        model=model,
    )


def _infer_op(
    session: StepSession, step_id: str, adapter: Adapter, body: Mapping[str, Any]
) -> tuple[Any, Op | None]:
    unique, hashed, memo = session.begin(step_id)
    if memo is not None:
        return unwrap_memo(unique, memo), None
    op = Op(Opcode.AI_GATEWAY, hashed, unique, unique, opts=adapter.opts(body))
    return None, op


class AI:
    """``ctx.step.ai`` for ``async def`` functions."""

    def __init__(self, session: StepSession) -> None:
        self._session = session

    async def infer(self, step_id: str, *, adapter: Adapter, body: Mapping[str, Any]) -> Any:
        """Send ``body`` to the adapter's model once, durably; returns the provider's answer."""
        stored, op = _infer_op(self._session, step_id, adapter, body)
        if op is None:
            return stored
        return await self._session.run_gateway(op)


class SyncAI:
    """``ctx.step.ai`` for plain ``def`` functions."""

    def __init__(self, session: StepSession) -> None:
        self._session = session

    def infer(self, step_id: str, *, adapter: Adapter, body: Mapping[str, Any]) -> Any:
        stored, op = _infer_op(self._session, step_id, adapter, body)
        if op is None:
            return stored
        return self._session.call_soon(self._session.run_gateway(op))
