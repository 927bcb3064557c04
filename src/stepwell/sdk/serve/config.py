"""How a served app finds its server and keys: arguments first, then the environment.

The rules are the Python SDK's (protocol.md §1.2): ``INNGEST_DEV`` picks dev mode (and may
carry the server's URL), the origins fall back through the specific variables, then
``INNGEST_BASE_URL``, then the URL in ``INNGEST_DEV``, then the mode's default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TypedDict, Unpack
from urllib.parse import urlparse

from stepwell.sdk.checkpointing import checkpointing_on

DEV_SERVER_ORIGIN = "http://127.0.0.1:8288/"
CLOUD_API_ORIGIN = "https://api.inngest.com/"
CLOUD_EVENT_ORIGIN = "https://inn.gs/"
DEFAULT_SERVE_PATH = "/api/inngest"
DEV_EVENT_KEY = "NO_EVENT_KEY_SET"  # any key is accepted by a dev server
_BRANCH_VARS = ("INNGEST_ENV", "RAILWAY_GIT_BRANCH", "RENDER_GIT_BRANCH", "VERCEL_GIT_COMMIT_REF")


class Mode(StrEnum):
    DEV = "dev"
    CLOUD = "cloud"


class ServeConfigError(ValueError):
    """A configuration the app cannot be served with (e.g. cloud mode without a signing key)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeOptions:
    """What serving an app may be told; whatever is unset comes from the environment.

    Every adapter (``stepwell.serve``, ``serve.flask.serve``, ``serve.django.serve``) takes one
    as ``options=``, or the same settings as keyword arguments (``ServeKeywords``).
    """

    signing_key: str | None = None
    signing_key_fallback: str | None = None
    event_key: str | None = None
    base_url: str | None = None
    """The server's URL, for both its API and its event API."""
    is_dev: bool | None = None
    serve_origin: str | None = None
    """Overrides the scheme and host of the URL registered for the app."""
    serve_path: str | None = None
    """Overrides the path of the URL registered for the app."""
    checkpoint: bool | None = None
    """Run consecutive steps in one call and checkpoint them to the server as they end
    (``sdk.serve.checkpointer``); on unless False here or ``STEPWELL_CHECKPOINT=0``."""


class ServeKeywords(TypedDict, total=False):
    """``ServeOptions`` as keyword arguments, as each adapter accepts them."""

    signing_key: str | None
    signing_key_fallback: str | None
    event_key: str | None
    base_url: str | None
    is_dev: bool | None
    serve_origin: str | None
    serve_path: str | None
    checkpoint: bool | None


@dataclass(frozen=True, slots=True)
class ServeConfig:
    mode: Mode
    api_origin: str
    event_origin: str
    signing_key: str | None
    signing_key_fallback: str | None
    event_key: str | None
    env: str | None
    serve_origin: str | None
    serve_path: str | None
    allow_unsigned_sync: bool
    checkpoint: bool = True
    """Whether calls checkpoint their steps as they go (``sdk.serve.checkpointer``)."""

    @property
    def is_dev(self) -> bool:
        return self.mode is Mode.DEV

    @property
    def signing_keys(self) -> list[str]:
        return [k for k in (self.signing_key, self.signing_key_fallback) if k]

    @classmethod
    def resolve(
        cls,
        options: ServeOptions | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **keywords: Unpack[ServeKeywords],
    ) -> ServeConfig:
        """The configuration for ``options``, with any keyword arguments passed over them (a
        keyword argument wins over the same field of ``options``), then the environment."""
        given = replace(options or ServeOptions(), **keywords)
        env = os.environ if environ is None else environ
        is_dev = given.is_dev
        mode = (Mode.DEV if is_dev else Mode.CLOUD) if is_dev is not None else _mode_from(env)
        signing_key = given.signing_key or env.get("INNGEST_SIGNING_KEY") or None
        if mode is Mode.CLOUD and not signing_key:
            raise ServeConfigError(
                "cloud mode needs a signing key: pass signing_key= or set INNGEST_SIGNING_KEY "
                "(or set INNGEST_DEV=1 to serve a local dev server)"
            )
        dev_url = _env_url(env, "INNGEST_DEV", mode)
        base = _parse_url(given.base_url, mode) if given.base_url else None
        shared = _env_url(env, "INNGEST_BASE_URL", mode)
        api = base or _env_url(env, "INNGEST_API_BASE_URL", mode) or shared or dev_url
        events = base or _env_url(env, "INNGEST_EVENT_API_BASE_URL", mode) or shared or dev_url
        dev = mode is Mode.DEV
        return cls(
            mode=mode,
            api_origin=api or (DEV_SERVER_ORIGIN if dev else CLOUD_API_ORIGIN),
            event_origin=events or (DEV_SERVER_ORIGIN if dev else CLOUD_EVENT_ORIGIN),
            signing_key=signing_key,
            signing_key_fallback=(
                given.signing_key_fallback or env.get("INNGEST_SIGNING_KEY_FALLBACK") or None
            ),
            event_key=given.event_key or env.get("INNGEST_EVENT_KEY") or None,
            env=next((env[name] for name in _BRANCH_VARS if env.get(name)), None),
            serve_origin=given.serve_origin or env.get("INNGEST_SERVE_ORIGIN") or None,
            serve_path=given.serve_path or env.get("INNGEST_SERVE_PATH") or None,
            # Cloud mode lets unsigned sync PUTs through unless told not to (PY default).
            allow_unsigned_sync=dev or not _is_false(env.get("INNGEST_ENABLE_UNAUTHED_SYNC")),
            checkpoint=checkpointing_on(given.checkpoint, env),
        )

    def event_key_for_sending(self) -> str:
        if self.event_key:
            return self.event_key
        if self.is_dev:
            return DEV_EVENT_KEY
        raise ServeConfigError(
            "sending events in cloud mode needs an event key (INNGEST_EVENT_KEY)"
        )


def _mode_from(env: Mapping[str, str]) -> Mode:
    value = env.get("INNGEST_DEV")
    if value is None or value.strip().lower() in ("", "false", "0"):
        return Mode.CLOUD
    return Mode.DEV


def _is_false(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("false", "0")


def _env_url(env: Mapping[str, str], name: str, mode: Mode) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    try:
        return _parse_url(value.strip(), mode)
    except ServeConfigError:
        return None  # e.g. INNGEST_DEV=1: a flag, not a URL


def _parse_url(url: str, mode: Mode) -> str:
    """A URL with a scheme; a bare ``host:port`` gets ``http://`` (dev) or ``https://``."""
    bare = url.removeprefix("http://").removeprefix("https://")
    if "." not in bare and ":" not in bare:
        raise ServeConfigError(f"invalid URL {url!r}: no domain or port")
    if not url.startswith("http"):
        url = f"{'https' if mode is Mode.CLOUD else 'http'}://{url}"
    if not urlparse(url).netloc:
        raise ServeConfigError(f"invalid URL {url!r}")
    return url
