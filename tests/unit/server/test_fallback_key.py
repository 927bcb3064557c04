"""The fallback signing key, on both sides: the server's accepted keys and a served app's."""

from __future__ import annotations

from stepwell.sdk.serve.config import ServeConfig
from stepwell.server.config import ServerConfig

KEY = "signkey-prod-00ff"
FALLBACK = "signkey-prod-abcd"


def test_the_server_accepts_the_key_then_the_fallback() -> None:
    both = ServerConfig(dev=False, signing_key=KEY, signing_key_fallback=FALLBACK)
    assert both.signing_keys == [KEY, FALLBACK]
    assert ServerConfig(dev=False, signing_key=KEY).signing_keys == [KEY]


def test_a_served_app_reads_the_fallback_from_the_official_variable() -> None:
    # What `stepwell start --app` relies on: the served app verifies with either key.
    env = {"INNGEST_SIGNING_KEY": KEY, "INNGEST_SIGNING_KEY_FALLBACK": FALLBACK}
    assert ServeConfig.resolve(is_dev=False, environ=env).signing_keys == [KEY, FALLBACK]
    passed = ServeConfig.resolve(
        is_dev=False, signing_key=KEY, signing_key_fallback=FALLBACK, environ={}
    )
    assert passed.signing_keys == [KEY, FALLBACK]
