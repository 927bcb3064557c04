"""Back-to-back steps: our SDK served over HTTP (checkpointing) against embedded mode.

One run of 500 ``step.run`` calls, measured from the event's send to the run's end, rounds
alternating between the two in the same session:

* over HTTP: ``stepwell dev`` (SQLite) calling an app on uvicorn (bench/apps/stepwell_app.py),
  the run's end seen by polling ``GET /v1/events/{id}/runs`` every 2 ms;
* embedded: the same function in ``app.embedded`` on SQLite, in a fresh process per round,
  as it runs by default (checkpointing) and with ``checkpointing=False`` (each step committed
  before the next starts, as embedded mode did by default before 2026-12-02's third session).

    .venv/bin/python -m bench.http_vs_embedded [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.apps.stepwell_app import LONG_STEPS
from bench.over_http import ROOT, Peer, cpu_seconds, inngest_stack


def over_http_round(peer: Peer, client: httpx.Client) -> tuple[float, float, float]:
    """Steps/s of one run, and the app's and the server's CPU per step (us)."""
    origin = peer.origin
    app0, server0 = cpu_seconds(peer.app_pid), cpu_seconds(peer.server_pid)
    [event_id] = client.post(f"{origin}/e/key", json={"name": "bench/sw-steps500"}).json()["ids"]
    started = time.perf_counter()
    deadline = time.monotonic() + 120
    while True:
        runs = client.get(f"{origin}/v1/events/{event_id}/runs").json()["data"]
        if runs and runs[0]["status"] == "Completed":
            rate = LONG_STEPS / (time.perf_counter() - started)
            app_us = (cpu_seconds(peer.app_pid) - app0) * 1e6 / LONG_STEPS
            server_us = (cpu_seconds(peer.server_pid) - server0) * 1e6 / LONG_STEPS
            return rate, app_us, server_us
        if (runs and runs[0]["status"] == "Failed") or time.monotonic() > deadline:
            raise RuntimeError(f"the run did not complete: {runs}")
        time.sleep(0.002)


async def embedded_child(database: str, checkpointing: bool) -> float:
    from bench.apps.stepwell_app import app_def

    async with app_def.embedded(database, checkpointing=checkpointing) as engine:
        started = time.perf_counter()
        [event_id] = await engine.send("bench/sw-steps500", {})
        [run] = await engine.wait_for_runs(event_id, timeout=120)
        assert run.output == LONG_STEPS
        return LONG_STEPS / (time.perf_counter() - started)


def embedded_round(tmp: Path, index: int, checkpointing: bool = True) -> float:
    database = f"sqlite:///{tmp}/e{index}{'' if checkpointing else '-strict'}.db"
    flags = [] if checkpointing else ["--no-checkpointing"]
    done = subprocess.run(
        [sys.executable, "-m", "bench.http_vs_embedded", "--child", database, *flags],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"embedded round failed:\n{done.stderr[-2000:]}")
    rate: float = json.loads(done.stdout.strip().splitlines()[-1])
    return rate


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        checkpointing = "--no-checkpointing" not in sys.argv
        print(json.dumps(asyncio.run(embedded_child(sys.argv[2], checkpointing))))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    http_rates: list[float] = []
    app_cpu: list[float] = []
    server_cpu: list[float] = []
    embedded_rates: list[float] = []
    strict_rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="stepwell-hve-") as name:
        tmp = Path(name)
        stack = inngest_stack(
            tmp, "ours", "bench.apps.stepwell_app:app", "benchsw-steps500", "bench/sw-steps500"
        )
        with stack as peer, httpx.Client(timeout=30) as client:
            over_http_round(peer, client)  # warm: the first call syncs and connects
            for index in range(args.rounds):
                rate, app_us, server_us = over_http_round(peer, client)
                http_rates.append(rate)
                app_cpu.append(app_us)
                server_cpu.append(server_us)
                embedded_rates.append(embedded_round(tmp, index))
                strict_rates.append(embedded_round(tmp, index, checkpointing=False))
    over_http, embedded = statistics.median(http_rates), statistics.median(embedded_rates)
    strict = statistics.median(strict_rates)
    print(f"one run of {LONG_STEPS} steps, medians of {args.rounds} alternating rounds:")
    print(f"  over HTTP (our SDK, checkpointing): {over_http:,.0f} steps/s  {_each(http_rates)}")
    print(
        f"    CPU per step over HTTP (us, with the 2 ms status polls): app "
        f"{statistics.median(app_cpu):.0f} {_each(app_cpu)}, "
        f"server {statistics.median(server_cpu):.0f} {_each(server_cpu)}"
    )
    print(f"  embedded (SQLite, checkpointing):   {embedded:,.0f} steps/s  {_each(embedded_rates)}")
    print(f"  embedded, checkpointing=False:      {strict:,.0f} steps/s  {_each(strict_rates)}")
    print(
        f"  over HTTP / embedded = {over_http / embedded:.2f}; / checkpointing=False = "
        f"{over_http / strict:.2f}"
    )


def _each(rates: list[float]) -> str:
    return "(" + ", ".join(f"{r:,.0f}" for r in rates) + ")"


if __name__ == "__main__":
    main()
