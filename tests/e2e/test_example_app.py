"""The README's run command: the example app, as a real process, on a fresh SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_example_app_completes_the_order(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "examples.shop"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "Completed {'charged': True, 'receipt': 'r-1', 'email': 'e-1', 'shipped': 'shipped 7'}"
    )
    assert (tmp_path / ".stepwell" / "shop.db").exists()
