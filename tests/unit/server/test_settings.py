"""Server settings in layers (stepwell.server.settings): flags over the environment over
``stepwell.toml`` over the defaults, each value checked and named where it came from."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from stepwell.cli import parse_args
from stepwell.cli.server import config_from
from stepwell.server.config import DEFAULT_PORT, ServerConfig
from stepwell.server.settings import (
    CONFIG_ENV,
    SETTINGS,
    SettingsError,
    config_path,
    load,
    read_file,
    server_config,
)

KEY = "signkey-test-00ff"
FALLBACK = "signkey-test-abcd"
KEYS = {"STEPWELL_SIGNING_KEY": KEY, "STEPWELL_EVENT_KEY": "ek"}
DAY_MS = 86_400_000


def parse(*argv: str) -> argparse.Namespace:
    return parse_args(list(argv))


def start(*argv: str, env: dict[str, str] | None = None, path: Path | None = None) -> ServerConfig:
    return server_config(parse("start", *argv), env or {}, path, dev=False)


def dev(*argv: str, env: dict[str, str] | None = None, path: Path | None = None) -> ServerConfig:
    return server_config(parse("dev", *argv), env or {}, path, dev=True)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stepwell.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_parser_leaves_every_setting_unset_when_no_flag_is_given() -> None:
    for command in ("dev", "start"):
        args = parse(command)
        for setting in SETTINGS:
            if setting.start_only and command == "dev":
                assert not hasattr(args, setting.key)
            else:
                assert getattr(args, setting.key) is None, (command, setting.key)


def test_defaults_with_no_flag_no_environment_and_no_file() -> None:
    config = dev()
    assert config == ServerConfig(dev=True)
    assert (config.host, config.port, config.database) == (
        "127.0.0.1",
        DEFAULT_PORT,
        "sqlite:///.stepwell/dev.db",
    )
    assert (config.poll_interval_s, config.lease_s, config.retry_interval_s) == (5.0, 30.0, None)
    assert config.discovery is True
    assert config.retention_ms is None
    assert (config.sdk_urls, config.apps) == ([], [])


def test_every_setting_from_the_environment() -> None:
    env = {
        "STEPWELL_HOST": "0.0.0.0",
        "STEPWELL_PORT": "9000",
        "STEPWELL_DATABASE_URL": "sqlite:///env.db",
        "STEPWELL_SDK_URL": "http://a:1/api/inngest, http://b:2/api/inngest",
        "STEPWELL_RETRY_INTERVAL": "0",
        "STEPWELL_POLL_INTERVAL": "0.5",
        "STEPWELL_NO_DISCOVERY": "true",
        "STEPWELL_LEASE": "12",
        "STEPWELL_APP": "examples.shop:app,other:app",
        "STEPWELL_RETENTION": "30d",
        "STEPWELL_SIGNING_KEY": KEY,
        "STEPWELL_SIGNING_KEY_FALLBACK": FALLBACK,
        "STEPWELL_EVENT_KEY": "one, two,,three",
    }
    config = start(env=env)
    assert config == ServerConfig(
        dev=False,
        host="0.0.0.0",
        port=9000,
        database="sqlite:///env.db",
        sdk_urls=["http://a:1/api/inngest", "http://b:2/api/inngest"],
        retry_interval_s=0.0,
        poll_interval_s=0.5,
        lease_s=12.0,
        discovery=False,
        signing_key=KEY,
        signing_key_fallback=FALLBACK,
        event_keys=["one", "two", "three"],
        retention_ms=30 * DAY_MS,
        apps=["examples.shop:app", "other:app"],
    )
    assert config.signing_keys == [KEY, FALLBACK]


def test_every_setting_from_the_file(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        """
        host = "0.0.0.0"
        port = 9001
        database = "sqlite:///file.db"
        sdk_urls = ["http://a:1/api/inngest"]
        retry_interval = 2
        poll_interval = 1.5
        no_discovery = true
        lease = 10
        apps = ["examples.shop:app"]
        retention = "12h"
        signing_key = "signkey-test-00ff"
        signing_key_fallback = "abcd"
        event_keys = ["one", "two"]
        """,
    )
    config = start(path=path)
    assert config == ServerConfig(
        dev=False,
        host="0.0.0.0",
        port=9001,
        database="sqlite:///file.db",
        sdk_urls=["http://a:1/api/inngest"],
        retry_interval_s=2.0,
        poll_interval_s=1.5,
        lease_s=10.0,
        discovery=False,
        signing_key=KEY,
        signing_key_fallback="abcd",
        event_keys=["one", "two"],
        retention_ms=12 * 3_600_000,
        apps=["examples.shop:app"],
    )


def test_the_file_may_keep_its_settings_under_a_server_table(tmp_path: Path) -> None:
    path = toml(tmp_path, '[server]\nport = 9002\nsigning_key = "00ff"\nevent_keys = ["ek"]\n')
    config = start(path=path)
    assert (config.port, config.signing_key, config.event_keys) == (9002, "00ff", ["ek"])


def test_flags_win_over_the_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        'host = "file"\nport = 1001\nlease = 11\nretention = "1d"\n'
        'signing_key = "aaaa"\nevent_keys = ["file"]\nsdk_urls = ["http://file"]\n',
    )
    env = {
        "STEPWELL_PORT": "2002",
        "STEPWELL_LEASE": "22",
        "STEPWELL_RETENTION": "2d",
        "STEPWELL_SIGNING_KEY": "bbbb",
        "STEPWELL_EVENT_KEY": "env",
        "STEPWELL_SDK_URL": "http://env",
    }
    # Each layer only where the ones above it say nothing: host from the file, port from env.
    config = start("--lease", "33", "--event-key", "flag", "--retention", "3d", env=env, path=path)
    assert config.host == "file"
    assert config.port == 2002
    assert config.lease_s == 33.0
    assert config.retention_ms == 3 * DAY_MS
    assert config.signing_key == "bbbb"
    assert config.event_keys == ["flag"]  # replaced, not merged with the env's or the file's
    assert config.sdk_urls == ["http://env"]
    flagged = start("--signing-key", "cccc", "-u", "http://one", "-u", "http://two", env=env)
    assert flagged.signing_key == "cccc"
    assert flagged.sdk_urls == ["http://one", "http://two"]


def test_a_flag_set_to_a_default_value_still_wins(tmp_path: Path) -> None:
    path = toml(tmp_path, 'host = "0.0.0.0"\nport = 9003\n')
    config = dev("--host", "127.0.0.1", "--port", str(DEFAULT_PORT), path=path)
    assert (config.host, config.port) == ("127.0.0.1", DEFAULT_PORT)


def test_no_discovery_from_the_environment_overrides_the_file(tmp_path: Path) -> None:
    path = toml(tmp_path, "no_discovery = true\n")
    assert dev(path=path).discovery is False
    assert dev(env={"STEPWELL_NO_DISCOVERY": "0"}, path=path).discovery is True
    assert dev("--no-discovery", env={"STEPWELL_NO_DISCOVERY": "no"}).discovery is False
    assert start(env={**KEYS, "STEPWELL_NO_DISCOVERY": "0"}).discovery is False  # never in start


def test_an_empty_variable_counts_as_not_set(tmp_path: Path) -> None:
    path = toml(tmp_path, "port = 9004\n")
    assert dev(env={"STEPWELL_PORT": "", "STEPWELL_HOST": "  "}, path=path).port == 9004


def test_the_official_inngest_names_are_accepted() -> None:
    env = {
        "INNGEST_SIGNING_KEY": KEY,
        "INNGEST_SIGNING_KEY_FALLBACK": FALLBACK,
        "INNGEST_EVENT_KEY": "official",
    }
    config = start(env=env)
    assert (config.signing_key, config.signing_key_fallback) == (KEY, FALLBACK)
    assert config.event_keys == ["official"]


def test_stepwell_names_win_over_the_official_ones() -> None:
    env = {
        "INNGEST_SIGNING_KEY": "aaaa",
        "STEPWELL_SIGNING_KEY": "bbbb",
        "INNGEST_SIGNING_KEY_FALLBACK": "cccc",
        "STEPWELL_SIGNING_KEY_FALLBACK": "dddd",
        "INNGEST_EVENT_KEY": "inngest",
        "STEPWELL_EVENT_KEY": "stepwell",
    }
    config = start(env=env)
    assert (config.signing_key, config.signing_key_fallback) == ("bbbb", "dddd")
    assert config.event_keys == ["stepwell"]


def test_the_official_names_win_over_the_file(tmp_path: Path) -> None:
    path = toml(tmp_path, 'signing_key = "aaaa"\nevent_keys = ["file"]\n')
    config = start(env={"INNGEST_SIGNING_KEY": "bbbb"}, path=path)
    assert (config.signing_key, config.event_keys) == ("bbbb", ["file"])


def test_dev_ignores_keys_wherever_they_are(tmp_path: Path) -> None:
    path = toml(tmp_path, 'signing_key = "not hex"\nevent_keys = ["ek"]\n')
    config = dev(env={"INNGEST_SIGNING_KEY": "also not hex"}, path=path)
    assert (config.signing_key, config.signing_key_fallback, config.event_keys) == (None, None, [])


@pytest.mark.parametrize(
    ("env", "flag", "variable", "file_key"),
    [
        ({"STEPWELL_EVENT_KEY": "ek"}, "--signing-key", "STEPWELL_SIGNING_KEY", "'signing_key'"),
        ({"STEPWELL_SIGNING_KEY": KEY}, "--event-key", "STEPWELL_EVENT_KEY", "'event_keys'"),
        ({}, "--signing-key", "INNGEST_SIGNING_KEY", "'signing_key'"),
        (
            {"STEPWELL_SIGNING_KEY": KEY, "STEPWELL_EVENT_KEY": " , "},
            "--event-key",
            "INNGEST_EVENT_KEY",
            "'event_keys'",
        ),
    ],
)
def test_start_without_a_key_anywhere_says_where_to_put_one(
    env: dict[str, str], flag: str, variable: str, file_key: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        start(env=env)
    message = str(raised.value)
    assert message.startswith("stepwell start needs")
    for part in (flag, variable, file_key, "stepwell.toml"):
        assert part in message


def test_the_missing_key_message_names_the_file_in_use(tmp_path: Path) -> None:
    path = toml(tmp_path, 'signing_key = "00ff"\n')
    with pytest.raises(SettingsError, match=f"'event_keys' in {path}"):
        start(path=path)


def test_config_from_exits_2_with_the_message(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("start", "--config", "/nonexistent/stepwell.toml")
    with pytest.raises(SystemExit) as raised:
        config_from(args, dev=False)
    assert raised.value.code == 2
    assert "--config: no such file: /nonexistent/stepwell.toml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (("--lease", "0.5"), {}, "--lease must be at least 1 second, got 0.5"),
        ((), {"STEPWELL_LEASE": "0"}, "STEPWELL_LEASE must be at least 1 second"),
        ((), {"STEPWELL_LEASE": "nan"}, "STEPWELL_LEASE must be at least 1 second"),
        (("--poll-interval", "0"), {}, "--poll-interval must be positive"),
        ((), {"STEPWELL_POLL_INTERVAL": "-1"}, "STEPWELL_POLL_INTERVAL must be positive"),
        (("--retry-interval", "-1"), {}, "--retry-interval must not be negative"),
        (("--port", "0"), {}, "--port must be a port from 1 to 65535, got 0"),
        ((), {"STEPWELL_PORT": "65536"}, "STEPWELL_PORT must be a port from 1 to 65535"),
        ((), {"STEPWELL_PORT": "http"}, "STEPWELL_PORT must be an integer, got 'http'"),
        ((), {"STEPWELL_LEASE": "30s"}, "STEPWELL_LEASE must be a number of seconds, got '30s'"),
        ((), {"STEPWELL_NO_DISCOVERY": "maybe"}, "STEPWELL_NO_DISCOVERY must be one of"),
        (("--retention", "30 days"), {}, "--retention: invalid duration '30 days'"),
        ((), {"STEPWELL_RETENTION": "0s"}, "STEPWELL_RETENTION must be a positive duration"),
        (("--host", " "), {}, "--host must not be empty"),
    ],
)
def test_bad_values_are_refused_naming_their_source(
    argv: tuple[str, ...], env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        dev(*argv, env=env)
    assert message in str(raised.value)
    with pytest.raises(SettingsError) as raised:
        start(*argv, env={**KEYS, **env})
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("argv", "env", "source"),
    [
        (("--signing-key", "xyz"), {"STEPWELL_EVENT_KEY": "ek"}, "--signing-key"),
        ((), {**KEYS, "STEPWELL_SIGNING_KEY": "abc"}, "STEPWELL_SIGNING_KEY"),
        ((), {**KEYS, "STEPWELL_SIGNING_KEY": "signkey-test-"}, "STEPWELL_SIGNING_KEY"),
        ((), {**KEYS, "INNGEST_SIGNING_KEY_FALLBACK": "0g"}, "INNGEST_SIGNING_KEY_FALLBACK"),
        (("--signing-key-fallback", "signkey-prod-abc"), KEYS, "--signing-key-fallback"),
    ],
)
def test_signing_keys_must_be_even_length_hex(
    argv: tuple[str, ...], env: dict[str, str], source: str
) -> None:
    with pytest.raises(SettingsError, match="must be an even-length hex string") as raised:
        start(*argv, env=env)
    assert str(raised.value).startswith(source)


def test_signing_keys_keep_their_prefix() -> None:
    config = start("--signing-key", " signkey-prod-00FF ", env={"STEPWELL_EVENT_KEY": "ek"})
    assert config.signing_key == "signkey-prod-00FF"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("prot = 1\n", "unknown key 'prot' in {path} (known keys: host, port,"),
        ("[server]\nprot = 1\n", "unknown key 'server.prot' in {path}"),
        ('host = "x"\n[server]\nport = 1\n', "unknown key 'host' in {path}: with a [server]"),
        ("server = 1\n", "'server' in {path} must be a table"),
        ('port = "8288"\n', "'port' in {path} must be an integer, got str '8288'"),
        ("port = true\n", "'port' in {path} must be an integer, got the boolean true"),
        ("lease = true\n", "'lease' in {path} must be a number, got the boolean true"),
        ('no_discovery = "yes"\n', "'no_discovery' in {path} must be true or false"),
        ('event_keys = "ek"\n', "'event_keys' in {path} must be a list of strings, got str"),
        ("sdk_urls = [1]\n", "'sdk_urls' in {path} must be a list of strings, got a list"),
        ("retention = 30\n", "'retention' in {path} must be a duration string"),
        ("host = {a = 1}\n", "'host' in {path} must be a string, got a table"),
        ("port = \n", "{path} is not valid TOML"),
    ],
)
def test_bad_file_keys_and_types_are_refused_naming_key_and_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = toml(tmp_path, text)
    with pytest.raises(SettingsError) as raised:
        read_file(path)
    assert message.format(path=path) in str(raised.value)
    with pytest.raises(SettingsError):
        dev(path=path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lease = 0\n", "'lease' in {path} must be at least 1 second, got 0"),
        ("port = 70000\n", "'port' in {path} must be a port from 1 to 65535"),
        ('retention = "soon"\n', "'retention' in {path}: invalid duration 'soon'"),
        ('apps = [""]\n', "'apps' in {path} must not contain an empty string"),
    ],
)
def test_bad_file_values_are_refused_naming_key_and_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = toml(tmp_path, text)
    with pytest.raises(SettingsError) as raised:
        dev(path=path)
    assert message.format(path=path) in str(raised.value)


def test_signing_key_in_the_file_is_checked_too(tmp_path: Path) -> None:
    path = toml(tmp_path, 'signing_key = "abc"\nevent_keys = ["ek"]\n')
    with pytest.raises(SettingsError, match=r"^'signing_key' in .* must be an even-length hex"):
        start(path=path)


# -- finding the file -------------------------------------------------------------------------


def test_stepwell_toml_in_the_current_directory_is_read(tmp_path: Path) -> None:
    toml(tmp_path, "port = 9005\n")
    assert config_path(parse("dev"), {}, cwd=tmp_path) == tmp_path / "stepwell.toml"
    assert load(parse("dev"), {}, dev=True, cwd=tmp_path).port == 9005


def test_no_file_is_fine(tmp_path: Path) -> None:
    assert config_path(parse("dev"), {}, cwd=tmp_path) is None
    assert load(parse("dev"), {}, dev=True, cwd=tmp_path) == ServerConfig(dev=True)


def test_config_flag_over_environment_over_the_current_directory(tmp_path: Path) -> None:
    toml(tmp_path, "port = 1\n")
    (tmp_path / "env.toml").write_text("port = 2\n", encoding="utf-8")
    (tmp_path / "flag.toml").write_text("port = 3\n", encoding="utf-8")
    env = {CONFIG_ENV: str(tmp_path / "env.toml")}
    assert load(parse("dev"), env, dev=True, cwd=tmp_path).port == 2
    # A relative --config is relative to the current directory.
    assert load(parse("dev", "--config", "flag.toml"), env, dev=True, cwd=tmp_path).port == 3


def test_a_named_file_that_does_not_exist_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=f"^--config: no such file: {tmp_path}/gone.toml$"):
        config_path(parse("start", "--config", "gone.toml"), {}, cwd=tmp_path)
    with pytest.raises(SettingsError, match=f"^{CONFIG_ENV}: no such file"):
        config_path(parse("start"), {CONFIG_ENV: "gone.toml"}, cwd=tmp_path)


def test_start_reads_its_keys_from_the_file_found(tmp_path: Path) -> None:
    toml(tmp_path, f'[server]\nsigning_key = "{KEY}"\nevent_keys = ["a", "b"]\n')
    config = load(parse("start"), {}, dev=False, cwd=tmp_path)
    assert (config.signing_key, config.event_keys) == (KEY, ["a", "b"])


def test_a_namespace_without_the_start_flags_is_enough() -> None:
    # The settings function reads flags by name and treats an absent one as not given.
    config = server_config(argparse.Namespace(port=9006), KEYS, None, dev=False)
    assert (config.port, config.signing_key, config.event_keys) == (9006, KEY, ["ek"])


def test_values_under_the_server_table_are_named_with_it(tmp_path: Path) -> None:
    path = toml(tmp_path, "[server]\nlease = 0\n")
    with pytest.raises(SettingsError, match=r"^'server\.lease' in .* must be at least 1 second"):
        dev(path=path)


def test_max_event_bytes_comes_from_any_layer_and_is_range_checked() -> None:
    args = parse_args(["dev"])
    assert server_config(args, {}, None, dev=True).max_event_bytes == 3 * 1024 * 1024
    env = {"STEPWELL_MAX_EVENT_BYTES": "1048576"}
    assert server_config(args, env, None, dev=True).max_event_bytes == 1024 * 1024
    flagged = parse_args(["dev", "--max-event-bytes", "2048"])
    assert server_config(flagged, env, None, dev=True).max_event_bytes == 2048
    with pytest.raises(SettingsError, match="STEPWELL_MAX_EVENT_BYTES"):
        server_config(args, {"STEPWELL_MAX_EVENT_BYTES": "10"}, None, dev=True)


def test_the_dashboard_key_and_session_ttl_come_from_any_layer(tmp_path: Path) -> None:
    assert start(env=KEYS).dashboard_key is None
    assert start(env=KEYS).dashboard_session_ttl_s == 12 * 3600
    env = {**KEYS, "STEPWELL_DASHBOARD_KEY": "k" * 16, "STEPWELL_DASHBOARD_SESSION_TTL": "90m"}
    from_env = start(env=env)
    assert (from_env.dashboard_key, from_env.dashboard_session_ttl_s) == ("k" * 16, 5400)
    flagged = start("--dashboard-key", "f" * 20, "--dashboard-session-ttl", "2s", env=env)
    assert (flagged.dashboard_key, flagged.dashboard_session_ttl_s) == ("f" * 20, 2)
    path = toml(tmp_path, 'dashboard_key = "from the file, long"\ndashboard_session_ttl = "1d"\n')
    from_file = start(env=KEYS, path=path)
    assert (from_file.dashboard_key, from_file.dashboard_session_ttl_s) == (
        "from the file, long",
        86_400,
    )
    # stepwell dev asks for no login, wherever the key is set.
    assert not hasattr(parse("dev"), "dashboard_key")
    assert dev(env=env, path=path).dashboard_key is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STEPWELL_DASHBOARD_KEY": "short"}, r"^STEPWELL_DASHBOARD_KEY must be at least 16"),
        ({"STEPWELL_DASHBOARD_SESSION_TTL": "0s"}, r"^STEPWELL_DASHBOARD_SESSION_TTL must be"),
        ({"STEPWELL_DASHBOARD_SESSION_TTL": "400d"}, r"^STEPWELL_DASHBOARD_SESSION_TTL must be"),
        ({"STEPWELL_DASHBOARD_SESSION_TTL": "soon"}, r"^STEPWELL_DASHBOARD_SESSION_TTL: "),
    ],
)
def test_bad_dashboard_settings_are_refused_naming_their_source(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match=message):
        start(env={**KEYS, **env})
