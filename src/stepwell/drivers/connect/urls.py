"""How a function synced over Connect is named: ``wss://connect?fnId=<slug>&stepId=step``."""

from __future__ import annotations

import urllib.parse

CONNECT_SCHEMES = ("ws", "wss")


def is_connect_url(url: str | None) -> bool:
    """Functions of Connect workers have a ``ws(s)://`` URL: there is no HTTP endpoint."""
    return url is not None and urllib.parse.urlsplit(url).scheme in CONNECT_SCHEMES


def function_slug(url: str) -> str:
    """The ``fnId`` of a function's URL: the id the SDK knows the function by."""
    values = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("fnId")
    return values[0] if values else ""
