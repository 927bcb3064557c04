"""``import stepwell`` and an embedded app load none of the optional heavy libraries.

Each check runs in a fresh interpreter: this test process has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Web server and PostgreSQL driver (extras), plus what an embedded app should not pay for:
# Pydantic until a type is declared, httpx until a request is made, the CEL package's
# command-line tool (typer, rich, prompt_toolkit), croniter until a cron is declared,
# prometheus_client and OpenTelemetry until metrics or traces are asked for.
HEAVY = [
    "starlette",
    "uvicorn",
    "psycopg",
    "jinja2",
    "graphql",
    "pydantic",
    "httpx",
    # The server's per-step calls to apps over HTTP only.
    "aiohttp",
    "cel.cli",
    "rich",
    "prompt_toolkit",
    "croniter",
    "ulid",
    # Metrics and traces: only with app.embedded(metrics=True), or OTEL_* set.
    "prometheus_client",
    "opentelemetry",
]


def _loaded_after(program: str, tmp_path: Path) -> dict[str, object]:
    """Run ``program``, then report which HEAVY modules it left loaded (and what it printed)."""
    script = textwrap.dedent(program) + textwrap.dedent(
        f"""
        import json, sys
        print(json.dumps({{"loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        # This checkout's code, also when PYTHONPATH is relative (it would name tmp_path/src).
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    *lines, last = done.stdout.strip().splitlines()
    report: dict[str, object] = json.loads(last)
    report["printed"] = lines
    return report


def test_import_stepwell_loads_no_optional_library(tmp_path: Path) -> None:
    assert _loaded_after("import stepwell", tmp_path)["loaded"] == []


def test_an_embedded_app_runs_without_web_db_or_type_libraries(tmp_path: Path) -> None:
    report = _loaded_after(
        """
        import asyncio
        import stepwell

        app = stepwell.App("plain")

        @app.function("double", trigger=stepwell.on_event("n/given", if_="event.data.n > 0"))
        async def double(ctx: stepwell.Context) -> dict[str, int]:
            n = await ctx.step.run("read", lambda: int(ctx.event.data["n"]))
            return {"doubled": await ctx.step.run("double", lambda: n * 2)}

        async def main() -> None:
            async with app.embedded("sqlite:///plain.db") as engine:
                [event_id] = await engine.send(stepwell.Event(name="n/given", data={"n": 21}))
                [run] = await engine.wait_for_runs(event_id, timeout=30)
                print(run.status, run.output)

        asyncio.run(main())
        """,
        tmp_path,
    )
    assert report["printed"] == ["Completed {'doubled': 42}"]
    assert report["loaded"] == []


def test_declaring_a_type_loads_pydantic_then(tmp_path: Path) -> None:
    report = _loaded_after(
        """
        import stepwell

        class Given(stepwell.EventData, name="n/given"):
            n: int

        print(Given(n=1).to_event().data)
        """,
        tmp_path,
    )
    assert report["printed"] == ["{'n': 1}"]
    assert report["loaded"] == ["pydantic"]


def test_the_cel_module_we_load_is_the_one_import_cel_gives(tmp_path: Path) -> None:
    # We load CEL's compiled module without its package's __init__ (which imports the CLI);
    # a later ``import cel`` elsewhere in the program must still work and share it.
    report = _loaded_after(
        """
        import sys
        from stepwell.core.expressions import evaluate_bool

        assert evaluate_bool("event.n > 1", {"event": {"n": 2}})
        assert "cel.cli" not in sys.modules
        extension = sys.modules["cel.cel"]
        import cel

        print(cel.compile("1 + 1").execute({}), cel.compile is extension.compile)
        """,
        tmp_path,
    )
    assert report["printed"] == ["2 True"]


def test_the_test_kit_is_not_imported_by_stepwell_and_needs_no_pytest(tmp_path: Path) -> None:
    report = _loaded_after(
        """
        import asyncio, sys
        import stepwell

        assert "stepwell.testing" not in sys.modules
        from stepwell.testing import TestEngine

        app = stepwell.App("plain")

        @app.function("nap", trigger=stepwell.on_event("n/nap"))
        async def nap(ctx: stepwell.Context) -> str:
            await ctx.step.sleep("a-week", "7d")
            return "rested"

        async def main() -> None:
            async with TestEngine(app) as t:
                result = await t.finish(await t.trigger(nap, "n/nap"))
                print(result.output, t.elapsed.days)

        asyncio.run(main())
        print(sorted(m for m in ("pytest", "_pytest", "pluggy") if m in sys.modules))
        """,
        tmp_path,
    )
    assert report["printed"] == ["rested 7", "[]"]
    assert report["loaded"] == []


def test_metrics_load_prometheus_only_when_asked_for(tmp_path: Path) -> None:
    report = _loaded_after(
        """
        import asyncio
        import stepwell

        app = stepwell.App("counted")

        @app.function("one", trigger=stepwell.on_event("n/given"))
        async def one(ctx: stepwell.Context) -> int:
            return 1

        async def main() -> None:
            async with app.embedded("sqlite:///counted.db", metrics=True) as engine:
                [event_id] = await engine.send("n/given", {})
                [run] = await engine.wait_for_runs(event_id, timeout=30)
                print(run.status)

        asyncio.run(main())
        """,
        tmp_path,
    )
    assert report["printed"] == ["Completed"]
    assert report["loaded"] == ["prometheus_client"]
