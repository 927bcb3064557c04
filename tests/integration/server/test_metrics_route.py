"""``GET /metrics``: open in dev; in production it needs the signing key, unless it was made
public (``--metrics-public``). Over a real server on loopback."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from stepwell.server import settings
from tests.integration.server.harness import running_server

SIGNING_KEY = "signkey-prod-0123456789abcdef0123456789abcdef"
PRODUCTION = {"dev": False, "signing_key": SIGNING_KEY, "event_keys": ["event-key"]}


async def test_dev_serves_metrics(tmp_path: Path) -> None:
    async with running_server(f"sqlite:///{tmp_path / 'db.sqlite'}") as server:
        response = await server.client.get("/metrics")
    assert response.status_code == 200
    assert "# TYPE stepwell_runs_started_total counter" in response.text
    assert "stepwell_queue_oldest_due_age_seconds 0.0" in response.text


async def test_production_metrics_need_the_signing_key(tmp_path: Path) -> None:
    async with running_server(f"sqlite:///{tmp_path / 'db.sqlite'}", **PRODUCTION) as server:
        refused = await server.client.get("/metrics")
        bearer = {"Authorization": f"Bearer {SIGNING_KEY}"}
        allowed = await server.client.get("/metrics", headers=bearer)
    assert refused.status_code == 401
    assert allowed.status_code == 200
    assert "stepwell_steps_total" in allowed.text


async def test_public_metrics_answer_anyone(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    async with running_server(db, metrics_public=True, **PRODUCTION) as server:
        response = await server.client.get("/metrics")
        other = await server.client.get("/v1/events")
    assert response.status_code == 200
    assert other.status_code == 401  # nothing else opens with it


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, ("info", "text", False)),
        (
            {
                "STEPWELL_LOG_LEVEL": "DEBUG",
                "STEPWELL_LOG_FORMAT": "json",
                "STEPWELL_METRICS_PUBLIC": "1",
            },
            ("debug", "json", True),
        ),
    ],
)
def test_log_and_metrics_settings_come_from_the_environment(
    tmp_path: Path, environ: dict[str, str], expected: tuple[str, str, bool]
) -> None:
    environ = {**environ, "STEPWELL_SIGNING_KEY": "abcd", "STEPWELL_EVENT_KEY": "k"}
    config = settings.load(argparse.Namespace(), environ, dev=False, cwd=tmp_path)
    assert (config.log_level, config.log_format, config.metrics_public) == expected


def test_a_bad_log_format_is_refused_naming_its_source(tmp_path: Path) -> None:
    with pytest.raises(settings.SettingsError, match="STEPWELL_LOG_FORMAT must be one of"):
        settings.load(argparse.Namespace(), {"STEPWELL_LOG_FORMAT": "xml"}, dev=True, cwd=tmp_path)
