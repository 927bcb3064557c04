"""Reading an SDK's answer to a call (protocol.md §5.2, §5.10)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from stepwell.core import json_values
from stepwell.core.backoff import clamp_retry_after
from stepwell.core.errors import error_payload
from stepwell.ports.driver import Completed, Errored, Outcome
from stepwell.protocol.durations import DurationError, parse_instant
from stepwell.protocol.ops import Op

_VERSION = re.compile(r"-?[0-9]+")


@dataclass(slots=True)
class SdkResponse:
    """Either a final outcome, or the ops of a 206 with what its headers said."""

    outcome: Outcome | None = None
    ops: list[Op] = field(default_factory=list)
    version: int | None = None
    no_retry: bool = False
    retry_after_s: float | None = None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Integer seconds (≤ 7 characters) or a date; clamped to [1 s, 24 h]."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit() and len(text) <= 7:  # "²".isdigit(), float fails
        return clamp_retry_after(float(text))
    moment: datetime | None = None
    try:
        moment = parse_instant(text)
    except DurationError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:  # an RFC 1123 date in "-0000" (zone unknown): taken as UTC
        moment = moment.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return clamp_retry_after((moment - current).total_seconds())


class _NotJson(ValueError):
    """An SDK answer whose body claims to be JSON but is not strict JSON (NaN, lone
    surrogates, ...): storing it would break every later read of the run."""


def _json(body: bytes, *, result: bool) -> Any:
    """The body as JSON. A result (200, 206) must be strict JSON; an error's body may be
    anything (a framework's text page) and is kept as text."""
    if not body.strip():
        return None
    try:
        return json_values.loads(body)
    except json_values.JsonValueError as exc:
        if result:
            raise _NotJson(str(exc)) from None
        return body.decode("utf-8", "replace")


def _error_from(body: Any, status: int) -> dict[str, Any]:
    if isinstance(body, dict) and ("message" in body or "name" in body or "error" in body):
        error = dict(body)
        error.setdefault("name", "Error")
        error.setdefault("message", str(body.get("error") or ""))
        return error
    text = body if isinstance(body, str) else json.dumps(body)
    return error_payload("Error", f"the app answered {status}: {text[:2000]}")


def classify_response(status: int, headers: Mapping[str, str], body: bytes) -> SdkResponse:
    lowered = {k.lower(): v for k, v in headers.items()}
    if status == 201 and "x-inngest-sdk" in lowered:
        return _unwrap_stream(body, lowered)
    if "x-inngest-sdk" not in lowered:
        # Not an SDK answer (a proxy, a framework 404, an SDK that refused our signature).
        return SdkResponse(
            outcome=Errored(
                error_payload(
                    "Error",
                    f"the app answered {status} without SDK headers: "
                    f"{body[:500].decode('utf-8', 'replace')}",
                ),
                retriable=True,
            )
        )
    no_retry_header = lowered.get("x-inngest-no-retry")
    retry_after = parse_retry_after(lowered.get("retry-after"))
    version_text = lowered.get("x-inngest-req-version", "")
    is_version = _VERSION.fullmatch(version_text) is not None and len(version_text) < 6
    version = int(version_text) if is_version else None
    try:
        parsed = _json(body, result=status in (200, 206))
        if status == 206:
            raw_ops = (
                parsed if isinstance(parsed, list) else [parsed] if isinstance(parsed, dict) else []
            )
            ops = [Op.from_wire(raw) for raw in raw_ops if isinstance(raw, dict)]
    except ValueError as exc:
        # The same code answers the same way every time: retrying cannot help.
        return SdkResponse(
            outcome=Errored(
                error_payload("InvalidResponseError", f"the app's answer is not usable: {exc}"),
                retriable=False,
            )
        )
    if status == 200:
        return SdkResponse(outcome=Completed(parsed), version=version)
    if status == 206:
        return SdkResponse(
            ops=ops,
            version=version,
            no_retry=no_retry_header == "true",
            retry_after_s=retry_after,
        )
    # Obey the header before the status (§5.2): PY sends 500 + no-retry for non-retriables.
    retriable = no_retry_header != "true" if no_retry_header is not None else True
    return SdkResponse(
        outcome=Errored(
            _error_from(parsed, status),
            retriable=retriable,
            retry_after_s=retry_after,
            status=status,
        ),
        version=version,
    )


def _unwrap_stream(body: bytes, headers: dict[str, str]) -> SdkResponse:
    """A 201 streams keep-alive spaces, then ``{"status", "headers", "body"}`` (§5.10)."""
    try:
        envelope = json_values.loads(body.strip())
        if not isinstance(envelope, dict):
            raise ValueError("expected an object")
        status = int(envelope.get("status", 500))
    except (ValueError, TypeError):
        return SdkResponse(
            outcome=Errored(
                error_payload("Error", "unreadable streamed response from the app"), retriable=True
            )
        )
    inner = envelope.get("body")
    raw = inner.encode("utf-8") if isinstance(inner, str) else json.dumps(inner).encode("utf-8")
    merged = {**headers, **{k.lower(): str(v) for k, v in (envelope.get("headers") or {}).items()}}
    merged.setdefault("x-inngest-sdk", headers.get("x-inngest-sdk", "stream"))
    return classify_response(status, merged, raw)
