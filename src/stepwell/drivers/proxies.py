"""The proxy a URL goes through, for our aiohttp sessions: read from ``HTTP(S)_PROXY``,
``ALL_PROXY`` and ``NO_PROXY`` once, as httpx reads them when its client is made (aiohttp's
``trust_env`` reads the environment and ~/.netrc again on every request)."""

from __future__ import annotations

import urllib.request
from urllib.parse import urlsplit


class EnvironmentProxies:
    def __init__(self) -> None:
        self._proxies = urllib.request.getproxies_environment()
        self._of_origin: dict[tuple[str, str], str | None] = {}

    def for_url(self, url: str) -> str | None:
        """The proxy for ``url``'s origin, or None (none set, or ``NO_PROXY`` names it)."""
        parts = urlsplit(url)
        origin = (parts.scheme, parts.netloc)
        if origin not in self._of_origin:
            proxy = self._proxies.get(parts.scheme) or self._proxies.get("all")
            bypass = proxy is None or bool(urllib.request.proxy_bypass(parts.hostname or ""))
            self._of_origin[origin] = None if bypass else proxy
        return self._of_origin[origin]
