"""Linting in worker processes finds exactly what linting in one process finds, in the same
order: on a tree of generated modules with findings of every kind, files that do not parse,
files skipped unread, ``# noqa``, a pyproject selection, and typed events used across files."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
from pathlib import Path

import pytest

from stepwell.lint import Overrides, lint_paths, parallel

EVENTS = """\
import stepwell


class Placed(stepwell.EventData, name="shop/placed"):
    order_id: int
"""

APP = """\
import random
import time

import httpx
import stepwell
from shop.events import Placed

app = stepwell.App("app-{n}")


def charge(order_id: int) -> float:
    return httpx.get(f"https://rates.test/{{order_id}}").json()["rate"]


@app.function("process-{n}", trigger=stepwell.on_event("shop/placed"))
async def process_{n}(ctx: stepwell.Context) -> object:
    value = random.random()
    print("start", value)  # noqa: SW108
    time.sleep({n} % 3)
    httpx.post("https://hooks.test", json={{"n": {n}}})
    for i in range({n} % 4):
        await ctx.step.send_event(f"send-{{i}}", {{"name": "shop/placed", "data": {{}}}})
    ctx.step.run(f"charge-{{value}}", charge, {n})
    return await ctx.step.run("again", lambda: ctx.step.sleep("nested", 1))
"""

INNGEST = """\
import inngest

client = inngest.Inngest(app_id="t-{n}")


@client.create_function(fn_id="t-{n}", trigger=inngest.TriggerEvent(event="shop/placed"))
async def theirs_{n}(ctx: inngest.Context) -> str:
    print("theirs")
    return await ctx.step.run("first", lambda: open("out", "w").write("x"))
"""


ROOT = Path(__file__).resolve().parents[3]


def _tree(root: Path, modules: int) -> None:
    (root / "shop").mkdir()
    (root / "shop" / "events.py").write_text(EVENTS)
    advised = root / "advised"
    advised.mkdir()
    (advised / "pyproject.toml").write_text('[tool.stepwell.lint]\nextend-select = ["SW1"]\n')
    for n in range(modules):
        folder = (root, advised)[n % 2] / f"pkg{n % 7}"
        folder.mkdir(exist_ok=True)
        template = (APP, INNGEST)[n % 3 == 0]
        (folder / f"m{n:03d}.py").write_text(template.format(n=n))
    (root / "broken.py").write_text("@app.function(\ndef oops(:\n")
    (root / "plain.py").write_text("def helper() -> int:\n    return 1\n")


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods() or sys.platform == "darwin",
    reason="worker processes are forked",
)
@pytest.mark.parametrize("isolated", [True, False])
def test_worker_processes_find_what_one_process_finds(tmp_path: Path, isolated: bool) -> None:
    # Compared in a fresh interpreter: the linter does not fork while threads run, and a full
    # test session has threads left by other tests (engines, the test kit's loop).
    code = (
        "from pathlib import Path\n"
        "from tests.unit.lint.test_parallel import compare_parallel_with_serial\n"
        f"compare_parallel_with_serial(Path({str(tmp_path)!r}), {isolated})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def compare_parallel_with_serial(tmp_path: Path, isolated: bool) -> None:
    _tree(tmp_path, 120)
    overrides = Overrides(isolated=isolated)
    assert parallel.workers(123, jobs=3) == 3
    serial = lint_paths([str(tmp_path)], overrides, jobs=1)
    spread = lint_paths([str(tmp_path)], overrides, jobs=3)
    by_default = lint_paths([str(tmp_path)], overrides)
    assert spread == serial
    assert by_default == serial
    assert serial.files == 123
    codes = {f.code for f in serial.findings}
    assert {"SW000", "SW101", "SW102", "SW103", "SW105", "SW107", "SW109", "SW111"} <= codes
    # The typed event of shop/events.py, seen from the files that import it.
    assert ("SW112" in codes) is not isolated


def test_a_pool_is_only_started_for_many_files() -> None:
    assert parallel.workers(1) == 1
    assert parallel.workers(parallel.MIN_FILES_PER_WORKER) == 1
    assert parallel.workers(10, jobs=1) == 1
    assert parallel.workers(1, jobs=4) == 1
