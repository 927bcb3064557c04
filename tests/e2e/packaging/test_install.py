"""``pip install stepwell``, for real: a wheel built from this tree, into a new virtualenv.

The plain install must run an embedded app and pull in neither a web server nor a PostgreSQL
driver; asking it for the server says which extra to install. Dependencies come from the
package index, at the versions requirements.lock names.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
APP = """
import asyncio
import stepwell

app = stepwell.App("installed")

@app.function("double", trigger=stepwell.on_event("n/given"))
async def double(ctx: stepwell.Context) -> int:
    return await ctx.step.run("double", lambda: ctx.event.data["n"] * 2)

async def main() -> None:
    async with app.embedded("sqlite:///installed.db") as engine:
        [event_id] = await engine.send(stepwell.Event(name="n/given", data={"n": 21}))
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        print(run.status, run.output)

asyncio.run(main())
"""


def _run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv with ``pip install stepwell`` (no extras) from a freshly built wheel."""
    work = tmp_path_factory.mktemp("install")
    # Built from a copy: setuptools leaves build/ behind in the tree it builds.
    source = work / "source"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, source / name)
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", work / "dist", source, cwd=work
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (work / "dist").glob("stepwell-*.whl")
    # No pip of its own (ensurepip takes seconds): this interpreter's pip installs into it.
    venv.create(work / "venv", with_pip=False)
    python = work / "venv" / "bin" / "python"
    installed = _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
        "-c", ROOT / "requirements.lock", wheel,
        cwd=work,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    return work


@pytest.mark.slow
def test_the_plain_install_pulls_no_web_server_and_no_postgres_driver(plain_install: Path) -> None:
    python = plain_install / "venv" / "bin" / "python"
    listed = _run(
        sys.executable, "-m", "pip", "--python", python, "list", "--format=freeze",
        cwd=plain_install,
    )  # fmt: skip
    names = {line.split("==")[0].lower() for line in listed.stdout.splitlines()}
    assert "stepwell" in names
    for absent in ("starlette", "uvicorn", "psycopg", "psycopg-binary", "jinja2", "graphql-core"):
        assert absent not in names, f"pip install stepwell pulled in {absent}"


@pytest.mark.slow
def test_the_plain_install_runs_an_embedded_app(plain_install: Path) -> None:
    python = plain_install / "venv" / "bin" / "python"
    done = _run(python, "-c", APP, cwd=plain_install, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Completed 42"


@pytest.mark.slow
def test_the_server_without_its_extra_names_the_extra(plain_install: Path) -> None:
    stepwell = plain_install / "venv" / "bin" / "stepwell"
    done = _run(stepwell, "dev", cwd=plain_install, timeout=60)
    assert done.returncode == 2
    assert "pip install 'stepwell[server]'" in done.stderr
    python = plain_install / "venv" / "bin" / "python"
    postgres = _run(
        python, "-c", "import stepwell; stepwell.App('a').embedded('postgresql://x@127.0.0.1/x')",
        cwd=plain_install, timeout=60,
    )  # fmt: skip
    assert postgres.returncode != 0
    assert "pip install 'stepwell[postgres]'" in postgres.stderr
