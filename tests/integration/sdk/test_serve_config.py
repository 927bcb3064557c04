"""Where a served app finds its server and keys (protocol.md §1.2): arguments, then the
environment, in the Python SDK's order."""

from __future__ import annotations

import pytest

from stepwell.sdk.serve.config import Mode, ServeConfig, ServeConfigError

KEY = "signkey-test-00ff"


@pytest.mark.parametrize(
    ("environ", "mode"),
    [
        ({}, Mode.CLOUD),
        ({"INNGEST_DEV": "1"}, Mode.DEV),
        ({"INNGEST_DEV": "true"}, Mode.DEV),
        ({"INNGEST_DEV": "http://localhost:9000"}, Mode.DEV),
        ({"INNGEST_DEV": "0"}, Mode.CLOUD),
        ({"INNGEST_DEV": "False"}, Mode.CLOUD),
        ({"INNGEST_DEV": ""}, Mode.CLOUD),
    ],
)
def test_inngest_dev_decides_the_mode(environ: dict[str, str], mode: Mode) -> None:
    assert ServeConfig.resolve(signing_key=KEY, environ=environ).mode is mode


def test_is_dev_argument_wins_over_the_environment() -> None:
    assert ServeConfig.resolve(is_dev=True, environ={"INNGEST_DEV": "0"}).is_dev
    cloud = ServeConfig.resolve(is_dev=False, signing_key=KEY, environ={"INNGEST_DEV": "1"})
    assert not cloud.is_dev


def test_mode_defaults_for_the_origins() -> None:
    dev = ServeConfig.resolve(environ={"INNGEST_DEV": "1"})
    assert (dev.api_origin, dev.event_origin) == ("http://127.0.0.1:8288/",) * 2
    cloud = ServeConfig.resolve(signing_key=KEY, environ={})
    assert (cloud.api_origin, cloud.event_origin) == ("https://api.inngest.com/", "https://inn.gs/")


def test_origin_precedence_argument_specific_base_then_dev_url() -> None:
    environ = {
        "INNGEST_DEV": "http://dev-url:1",
        "INNGEST_BASE_URL": "http://base:2",
        "INNGEST_EVENT_API_BASE_URL": "events:3",
    }
    config = ServeConfig.resolve(environ=environ)
    assert config.api_origin == "http://base:2"
    assert config.event_origin == "http://events:3"  # bare host:port gets http:// in dev
    only_dev = ServeConfig.resolve(environ={"INNGEST_DEV": "http://dev-url:1"})
    assert only_dev.api_origin == only_dev.event_origin == "http://dev-url:1"
    argument = ServeConfig.resolve(base_url="http://arg:4", environ=environ)
    assert argument.api_origin == argument.event_origin == "http://arg:4"
    cloud = ServeConfig.resolve(signing_key=KEY, environ={"INNGEST_BASE_URL": "api.example.com"})
    assert cloud.api_origin == "https://api.example.com"


def test_keys_env_and_serve_overrides_come_from_the_environment() -> None:
    config = ServeConfig.resolve(
        environ={
            "INNGEST_SIGNING_KEY": KEY,
            "INNGEST_SIGNING_KEY_FALLBACK": "signkey-test-aa",
            "INNGEST_EVENT_KEY": "ek",
            "INNGEST_ENV": "branch-1",
            "INNGEST_SERVE_ORIGIN": "https://app.example.com",
            "INNGEST_SERVE_PATH": "/hooks",
        }
    )
    assert config.mode is Mode.CLOUD
    assert config.signing_keys == [KEY, "signkey-test-aa"]
    assert config.event_key_for_sending() == "ek"
    assert config.env == "branch-1"
    assert (config.serve_origin, config.serve_path) == ("https://app.example.com", "/hooks")
    assert config.allow_unsigned_sync  # the Python SDK's default, until v0.6
    vercel = {"VERCEL_GIT_COMMIT_REF": "preview", "INNGEST_DEV": "1"}
    assert ServeConfig.resolve(environ=vercel).env == "preview"


def test_event_key_is_a_placeholder_in_dev_and_required_in_cloud() -> None:
    assert ServeConfig.resolve(is_dev=True, environ={}).event_key_for_sending() == (
        "NO_EVENT_KEY_SET"
    )
    cloud = ServeConfig.resolve(signing_key=KEY, environ={})
    with pytest.raises(ServeConfigError, match="event key"):
        cloud.event_key_for_sending()


def test_unsigned_syncs_can_be_turned_off_in_cloud_mode() -> None:
    environ = {"INNGEST_ENABLE_UNAUTHED_SYNC": "false"}
    assert not ServeConfig.resolve(signing_key=KEY, environ=environ).allow_unsigned_sync
    assert ServeConfig.resolve(is_dev=True, environ=environ).allow_unsigned_sync


def test_a_bad_base_url_argument_is_refused() -> None:
    with pytest.raises(ServeConfigError, match="invalid URL"):
        ServeConfig.resolve(is_dev=True, base_url="localhost", environ={})
