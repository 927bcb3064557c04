"""The pytest plugin, used from real pytest runs in subprocesses on tiny test files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

APP = """
from datetime import timedelta
import stepwell

app = stepwell.App("plugged")

@app.function("slow", trigger=stepwell.on_event("plugged/go"))
async def slow(ctx: stepwell.Context) -> str:
    await ctx.step.sleep("a-week", timedelta(days=7))
    return await ctx.step.run("greet", lambda: "hi " + ctx.event.data["who"])

@app.function("slow-sync", trigger=stepwell.on_event("plugged/go-sync"))
def slow_sync(ctx: stepwell.SyncContext) -> str:
    ctx.step.sleep("a-day", "1d")
    return ctx.step.run("greet", lambda: "hello")
"""

TESTS = """
from datetime import timedelta
import pytest
from stepwell.testing import SyncTestEngine, TestEngine
from plugged_app import app, slow, slow_sync

pytestmark = pytest.mark.stepwell_app("plugged_app:app")

async def test_async_by_import_path(stepwell_engine: TestEngine) -> None:
    assert isinstance(stepwell_engine, TestEngine)
    run = await stepwell_engine.trigger(slow, "plugged/go", {"who": "ann"},
                                        steps={"greet": "stubbed"})
    result = await stepwell_engine.finish(run)
    assert result.output == "stubbed"
    assert stepwell_engine.elapsed == timedelta(days=7)

@pytest.mark.stepwell_app(app)
def test_sync_by_object(stepwell_engine: SyncTestEngine) -> None:
    assert isinstance(stepwell_engine, SyncTestEngine)
    run = stepwell_engine.trigger(slow_sync, "plugged/go-sync")
    assert stepwell_engine.finish(run).output == "hello"
    run = stepwell_engine.trigger(slow, "plugged/go", {"who": "bo"})
    assert stepwell_engine.finish(run).output == "hi bo"

@pytest.mark.stepwell_app(app, retry_interval="1s")
async def test_options_go_to_the_engine(stepwell_engine: TestEngine) -> None:
    run = await stepwell_engine.trigger(slow, "plugged/go", {"who": "cy"},
                                        steps={"a-week": None})
    assert (await stepwell_engine.finish(run)).output == "hi cy"
    assert stepwell_engine.elapsed == timedelta(0)
"""

DEFAULT_APP_TEST = """
from stepwell.testing import SyncTestEngine

def test_the_configured_app(stepwell_engine: SyncTestEngine) -> None:
    [event_id] = stepwell_engine.send("plugged/go-sync")
    stepwell_engine.advance("1d")
    [run] = stepwell_engine.runs()
    assert run.status == "Completed"
"""

NO_APP_TEST = """
def test_without_an_app(stepwell_engine) -> None:
    pass
"""


def _pytest(
    tmp_path: Path, files: dict[str, str], *args: str, autoload: bool = False, ini: str = ""
) -> subprocess.CompletedProcess[str]:
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    (tmp_path / "plugged_app.py").write_text(APP)
    (tmp_path / "pytest.ini").write_text(
        f"[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n{ini}"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(tmp_path)]),
    }
    plugins = []
    if autoload:
        env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    else:  # only the plugins named: whatever is installed, the test sees the same
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        plugins = ["-p", "stepwell.testing.plugin", "-p", "pytest_asyncio.plugin"]
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugins, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_fixture_and_marker_in_async_and_sync_tests(tmp_path: Path) -> None:
    done = _pytest(tmp_path, {"test_plugged.py": TESTS})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_the_app_can_be_configured_for_the_whole_suite(tmp_path: Path) -> None:
    done = _pytest(
        tmp_path, {"test_default.py": DEFAULT_APP_TEST}, ini="stepwell_app = plugged_app:app\n"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_without_an_app_the_fixture_says_how_to_name_one(tmp_path: Path) -> None:
    done = _pytest(tmp_path, {"test_none.py": NO_APP_TEST})
    assert done.returncode != 0
    assert "@pytest.mark.stepwell_app(app)" in done.stdout + done.stderr


def test_the_pytest11_entry_point_loads_the_plugin(tmp_path: Path) -> None:
    # What pip writes for our pyproject's entry point, beside the code under test: pytest
    # then finds the plugin as it would in an installed stepwell.
    [(name, target)] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "entry-points"
    ]["pytest11"].items()
    assert (name, target) == ("stepwell", "stepwell.testing.plugin")
    dist = tmp_path / "stepwell_plugin_probe-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: stepwell-plugin-probe\n")
    (dist / "entry_points.txt").write_text(f"[pytest11]\n{name} = {target}\n")
    done = _pytest(tmp_path, {"test_plugged.py": TESTS}, autoload=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
