"""``stepwell lint`` and ``python -m stepwell.lint`` as subprocesses: formats, exit statuses,
``# noqa``, ``[tool.stepwell.lint]`` in pyproject.toml, and our own tree linting clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EVERY_RULE = ROOT / "tests" / "unit" / "lint" / "fixtures" / "every_rule.py"
ALL_CODES = [f"SW{n}" for n in range(101, 115)]

BAD = """\
import random
import stepwell

app = stepwell.App("t")


@app.function("f", trigger=stepwell.on_event("t/go"))
async def f(ctx: stepwell.Context) -> float:
    print("hi")
    return random.random()
"""


def lint(*args: str, cwd: Path = ROOT, module: bool = False) -> subprocess.CompletedProcess[str]:
    command = ["-m", "stepwell.lint"] if module else ["-m", "stepwell.cli", "lint"]
    if not module and "--format" not in args and "--explain" not in args:
        command = ["-m", "stepwell.lint"]  # the same code, without the server's imports
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, *command, *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def codes(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.split(" ")[1] for line in result.stdout.splitlines()]


def test_every_rule_has_its_violation_in_the_fixture() -> None:
    result = lint("--select", "ALL", str(EVERY_RULE))
    assert result.returncode == 1, result.stderr
    assert sorted(codes(result)) == ALL_CODES
    assert "14 findings in 1 file checked" in result.stderr


def test_advice_rules_are_off_unless_selected() -> None:
    result = lint(str(EVERY_RULE))
    assert sorted(codes(result)) == [c for c in ALL_CODES if c not in ("SW110", "SW112", "SW113")]
    extended = lint("--extend-select", "SW113", str(EVERY_RULE))
    assert "SW113" in codes(extended)


def test_text_json_and_github_formats(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(BAD)
    text = lint("app.py", cwd=tmp_path)
    assert text.stdout.splitlines() == [
        "app.py:9:5: SW108 `print()` in a function body: the line is repeated on every replay",
        "app.py:10:12: SW101 `random.random()` outside a step: a new value on every replay",
    ]
    rows = json.loads(lint("--format", "json", "app.py", cwd=tmp_path).stdout)
    assert [(r["code"], r["line"], r["column"], r["path"]) for r in rows] == [
        ("SW108", 9, 5, "app.py"),
        ("SW101", 10, 12, "app.py"),
    ]
    assert rows[1]["name"] == "non-deterministic-outside-step"
    assert rows[1]["fix"]
    github = lint("--format", "github", "app.py", cwd=tmp_path).stdout.splitlines()
    assert github[1] == (
        "::error file=app.py,line=10,col=12,title=SW101 non-deterministic-outside-step::"
        "SW101 `random.random()` outside a step: a new value on every replay"
    )


def test_exit_statuses(tmp_path: Path) -> None:
    (tmp_path / "clean.py").write_text("import stepwell\n")
    assert lint("clean.py", cwd=tmp_path).returncode == 0
    (tmp_path / "app.py").write_text(BAD)
    assert lint("app.py", cwd=tmp_path).returncode == 1
    assert lint("--exit-zero", "app.py", cwd=tmp_path).returncode == 0
    missing = lint("nowhere.py", cwd=tmp_path)
    assert missing.returncode == 2
    assert "no such file" in missing.stderr
    unknown = lint("--select", "SW999", "app.py", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "unknown rule" in unknown.stderr
    assert lint("--format", "xml", "app.py", cwd=tmp_path).returncode == 2


def test_python_dash_m_is_the_same_command(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(BAD)
    result = lint("app.py", cwd=tmp_path, module=True)
    assert result.returncode == 1
    assert codes(result) == ["SW108", "SW101"]


def test_noqa_with_a_code_and_bare(tmp_path: Path) -> None:
    source = BAD.replace('print("hi")', 'print("hi")  # noqa: SW108')
    (tmp_path / "a.py").write_text(source)
    assert codes(lint("a.py", cwd=tmp_path)) == ["SW101"]
    (tmp_path / "a.py").write_text(source.replace("random.random()", "random.random()  # noqa"))
    assert lint("a.py", cwd=tmp_path).returncode == 0
    # another code does not silence it
    (tmp_path / "a.py").write_text(BAD.replace('print("hi")', 'print("hi")  # noqa: SW101'))
    assert codes(lint("a.py", cwd=tmp_path)) == ["SW108", "SW101"]


def test_pyproject_config_is_found_upward(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.stepwell.lint]\nignore = ["SW108"]\nextend-select = ["SW113"]\n'
        'exclude = ["generated"]\n'
    )
    package = tmp_path / "src" / "pkg"
    package.mkdir(parents=True)
    (package / "app.py").write_text(BAD)
    (tmp_path / "generated").mkdir()
    (tmp_path / "generated" / "gen.py").write_text(BAD)
    result = lint(".", cwd=tmp_path)
    assert result.stdout.splitlines() == [
        "src/pkg/app.py:10:12: SW101 `random.random()` outside a step: a new value on every replay"
    ]
    from_inside = lint("app.py", cwd=package)
    assert codes(from_inside) == ["SW101"]
    assert codes(lint("--isolated", "app.py", cwd=package)) == ["SW108", "SW101"]
    assert codes(lint("--select", "SW108", "app.py", cwd=package)) == []


@pytest.mark.parametrize(
    ("table", "error"),
    [('select = "SW101"', "must be a list"), ('colour = ["red"]', "unknown key"),
     ('select = ["SW9"]', "unknown rule")],
)  # fmt: skip
def test_a_bad_config_is_a_usage_error(tmp_path: Path, table: str, error: str) -> None:
    (tmp_path / "pyproject.toml").write_text(f"[tool.stepwell.lint]\n{table}\n")
    (tmp_path / "app.py").write_text(BAD)
    result = lint("app.py", cwd=tmp_path)
    assert result.returncode == 2
    assert error in result.stderr


def test_a_syntax_error_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("import stepwell\n@app.function(\n")
    result = lint("broken.py", cwd=tmp_path)
    assert result.returncode == 1
    assert codes(result) == ["SW000"]


def test_the_user_s_code_is_not_imported(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("raise SystemExit('imported!')\n" + BAD)
    result = lint("app.py", cwd=tmp_path)
    assert result.returncode == 1
    assert "imported!" not in result.stdout + result.stderr


def test_explain() -> None:
    result = lint("--explain", "SW106")
    assert result.returncode == 0
    assert "wait_for_event" in result.stdout
    assert lint("--explain", "SW1").returncode == 2


def test_our_examples_tests_and_sources_lint_clean() -> None:
    """Every rule, advice included, over the examples, the e2e apps, the package's own code
    and the benchmarks; the default rules over every test (deliberate violations carry
    ``# noqa``), where the one exception is the fixture with a violation of each rule."""
    result = lint("--select", "ALL", "examples", "tests/e2e/apps", "src/stepwell", "bench")
    assert result.returncode == 0, result.stdout
    tests = lint("tests")
    assert {line.split(":")[0] for line in tests.stdout.splitlines()} == {
        "tests/unit/lint/fixtures/every_rule.py"
    }


def test_the_pre_commit_hook_runs_the_command() -> None:
    hooks = (ROOT / ".pre-commit-hooks.yaml").read_text()
    assert "id: stepwell-lint" in hooks
    assert "entry: stepwell lint" in hooks
