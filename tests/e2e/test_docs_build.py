"""The documentation site builds: ``mkdocs build --strict`` (what ``scripts/docs`` runs), in a
subprocess, into a temporary directory. Strict mode fails on a broken link or anchor, a page
left out of the nav, and an API reference entry that cannot be rendered from the docstrings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_docs_build_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    api = (tmp_path / "reference" / "api" / "index.html").read_text()
    for name in ("stepwell.App", "stepwell.Context", "stepwell.Client", "stepwell.on_event"):
        assert f'id="{name}"' in api, f"the API reference lost {name}"
    assert (tmp_path / "guides" / "migrating-from-inngest" / "index.html").exists()
