"""What ``pip install stepwell`` pulls in, and the lock that pins what we test with."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
WEB_AND_DB = {"starlette", "uvicorn", "httptools", "uvloop", "graphql-core", "jinja2", "psycopg"}


def _requirements(specs: list[str]) -> list[Requirement]:
    return [Requirement(spec) for spec in specs]


def _lock() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_the_plain_install_has_no_web_server_and_no_postgres_driver() -> None:
    names = {canonicalize_name(r.name) for r in _requirements(PROJECT["dependencies"])}
    assert names.isdisjoint(WEB_AND_DB), names & WEB_AND_DB


def test_the_extras_bring_the_server_and_postgres() -> None:
    server = {canonicalize_name(r.name) for r in _requirements(EXTRAS["server"])}
    assert {"starlette", "uvicorn", "jinja2", "graphql-core"} <= server
    assert [canonicalize_name(r.name) for r in _requirements(EXTRAS["postgres"])] == ["psycopg"]


def test_what_users_install_is_a_range_not_a_pin() -> None:
    # Pins belong in the lock: a user's app must be free to pick its own versions.
    published = PROJECT["dependencies"] + [
        spec for extra, specs in EXTRAS.items() if extra not in ("dev", "bench") for spec in specs
    ]
    for requirement in _requirements(published):
        if canonicalize_name(requirement.name) == "stepwell":
            continue
        operators = {spec.operator for spec in requirement.specifier}
        assert operators, f"{requirement} should be a range"
        assert "==" not in operators, f"{requirement} should be a range"


def test_the_lock_pins_every_dependency_within_its_range() -> None:
    pins = _lock()
    every = PROJECT["dependencies"] + [spec for specs in EXTRAS.values() for spec in specs]
    for requirement in _requirements(every):
        name = canonicalize_name(requirement.name)
        if name == "stepwell" or (requirement.marker and not requirement.marker.evaluate()):
            continue
        assert name in pins, f"requirements.lock has no pin for {name}"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"requirements.lock pins {name}=={pins[name]}, outside {requirement.specifier}"
        )
