"""What the events, functions and apps pages share: reading their forms, answering actions.

Forms arrive url-encoded (htmx and plain HTML forms alike); bodies are bounded before they are
read. An action answers htmx with a fragment, or leads the browser on (``HX-Redirect`` for htmx,
303 for a plain form). Refusals are 4xx fragments saying what was wrong; the page's
``hx-on::before-swap`` (``ERROR_SWAP``) lets htmx show them, as it swaps only 2xx by default.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from stepwell.core import json_values
from stepwell.server.http import MAX_REQUEST_BYTES, RequestRefused, read_body

MAX_FORM_BYTES = MAX_REQUEST_BYTES + 64 * 1024
"""An event as big as the server takes (3 MiB), url-encoded, with room for the other fields."""

ERROR_SWAP = (
    "if (event.detail.xhr.status >= 400 && event.detail.xhr.status < 500)"
    " { event.detail.shouldSwap = true; event.detail.isError = false; }"
)
"""Put on a container as ``hx-on::before-swap``: a refusal's fragment is shown, not dropped."""


class FormError(ValueError):
    """A form the dashboard refuses; the message says what was wrong, for a person."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


async def form_fields(request: Request) -> dict[str, str]:
    """The form's fields (the last value of each), or ``FormError`` for a body we cannot read."""
    try:
        raw = await read_body(request, MAX_FORM_BYTES)
    except RequestRefused as exc:
        raise FormError(exc.message, exc.status) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FormError("the form is not valid UTF-8") from None
    try:
        fields = parse_qs(text, keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError) as exc:
        raise FormError(f"the form could not be read ({exc})") from None
    return {name: values[-1] for name, values in fields.items()}


def json_field(fields: dict[str, str], name: str, label: str, *, empty: Any = None) -> Any:
    """The field as strict JSON; ``empty`` when left blank (``FormError`` if that is None)."""
    text = fields.get(name, "").strip()
    if not text:
        if empty is None:
            raise FormError(f"{label}: write some JSON")
        return empty
    try:
        return json_values.loads(text)
    except json_values.JsonValueError as exc:
        raise FormError(f"{label}: {exc}") from None


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def lead_to(request: Request, url: str) -> Response:
    """Send the browser to ``url`` after an action: htmx follows ``HX-Redirect``."""
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)
