"""Schemathesis against a real ``stepwell dev``: every operation of /openapi.json, a fixed
number of examples each and a fixed seed; no answer may be a 5xx or differ from the document."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.integration.cli.harness import ENV, dev_server
from tests.integration.server.test_cli import free_port  # noqa: F401 (the harness's port)

ST = Path(sys.executable).with_name("st")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,"
CHECKS += "response_schema_conformance"


async def test_every_operation_answers_as_documented(sqlite_url: str, tmp_path: Path) -> None:
    async with dev_server(sqlite_url) as url:
        done = subprocess.run(  # noqa: ASYNC221 (the server runs in its own process)
            [
                str(ST),
                "run",
                f"{url}/openapi.json",
                "--max-examples",
                "5",
                "--seed",
                "1",
                "--mode",
                "all",
                "--phases",
                "examples,coverage,fuzzing",
                "--workers",
                "1",
                "--checks",
                CHECKS,
                "--no-color",
                "--generation-database",
                "none",
            ],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    out = done.stdout + done.stderr
    tested = re.search(r"Tested: (\d+)", out)
    cases = re.search(r"(\d+) generated", out)
    failures = re.search(r"(\d+) found (\d+) unique failure", out)
    print(
        f"schemathesis: operations {tested.group(1) if tested else '?'}, "
        f"cases {cases.group(1) if cases else '?'}, "
        f"failures {failures.group(2) if failures else 0}"
    )
    assert tested, out[-3000:]
    assert int(tested.group(1)) >= 40, out[-3000:]
    assert done.returncode == 0, out[-6000:]
