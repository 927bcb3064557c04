"""Ingest: how fast events get in, embedded (``engine.send``) and over HTTP (``POST /e/{key}``).

Embedded, on SQLite (or PostgreSQL with ``--postgres``), each round in a fresh process:

* ``send``: 1,000-event batches, each event starting a run (one step, then a sleep); events/s
  until the last ``send`` returned, every run committed with its queue item (and being run);
* ``sleep``: 100,000 such events in batches of 1,000; runs/s until every run is asleep (its
  step stored, its sleep item queued), the CPU per run of the event loop's thread and of the
  process, and the process's peak RSS.

Over HTTP, against a real ``stepwell dev``: single-event requests/s and events/s in arrays of
100, from two client processes of 32 keep-alive connections each (plain asyncio streams: a
client much cheaper than the server; wrk is not installed here), with the server's CPU per
request. Every figure is the median of its rounds.

    .venv/bin/python bench/ingest.py [--quick] [--rounds N] [--postgres [ADMIN_URL]]
        [--only send,sleep,http] [--no-checkpointing]

``--no-checkpointing`` runs the embedded rounds with ``App.embedded(checkpointing=False)``
(checkpointing is on by default).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000


# -- embedded: one round per process -------------------------------------------------------------


def build_app() -> Any:
    import stepwell

    app = stepwell.App("ingest")

    @app.function("nap", trigger=stepwell.on_event("bench/nap"))
    async def nap(ctx: stepwell.Context) -> None:
        await ctx.step.run("first", lambda: 1)
        await ctx.step.sleep("nap", "1h")

    return app


def count_asleep(database: str) -> int:
    sql = "SELECT count(*) FROM queue WHERE kind = 'sleep'"
    if database.startswith("sqlite:"):
        with contextlib.closing(sqlite3.connect(database.removeprefix("sqlite:///"))) as conn:
            count: int = conn.execute(sql).fetchone()[0]
            return count
    import psycopg

    with psycopg.connect(database) as conn:
        row = conn.execute(sql).fetchone()
        assert row is not None
        return int(row[0])


async def embedded_round(
    database: str, scenario: str, events: int, checkpointing: bool = True
) -> dict[str, float]:
    import stepwell

    app = build_app()
    async with app.embedded(database, max_concurrency=1000, checkpointing=checkpointing) as engine:
        batches = [
            [stepwell.Event(name="bench/nap", data={"i": b * BATCH + i}) for i in range(BATCH)]
            for b in range(events // BATCH)
        ]
        started = time.perf_counter()
        loop_cpu, process_cpu = time.thread_time(), time.process_time()
        for batch in batches:
            await engine.send(batch)
        sent = time.perf_counter() - started
        result = {"events_per_s": events / sent}
        if scenario == "sleep":
            deadline = time.monotonic() + 600
            while (asleep := count_asleep(database)) < events:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {asleep} of {events} runs asleep")
                await asyncio.sleep(0.05)
            result["runs_per_s"] = events / (time.perf_counter() - started)
            # CPU moves far less with the shared machine's load than rates do: the event
            # loop's thread (the limit) and the whole process (with the SQLite writer).
            result["loop_cpu_us_per_run"] = (time.thread_time() - loop_cpu) / events * 1e6
            result["process_cpu_us_per_run"] = (time.process_time() - process_cpu) / events * 1e6
        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result["peak_rss_mb"] = rss_kb / 1024
    return result


def child_main(database: str, scenario: str, events: int, checkpointing: bool) -> None:
    print(json.dumps(asyncio.run(embedded_round(database, scenario, events, checkpointing))))


@contextlib.contextmanager
def fresh_database(tmp: Path, postgres: str | None, label: str) -> Iterator[str]:
    if postgres is None:
        yield f"sqlite:///{tmp / f'{label}.db'}"
        return
    from bench.pg import temporary_database

    with temporary_database(postgres, "ingest") as url:
        yield url


def run_child(
    database: str, scenario: str, events: int, checkpointing: bool = True
) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    flags = [] if checkpointing else ["--no-checkpointing"]
    done = subprocess.run(
        [sys.executable, __file__, "--child", scenario, str(events), database, *flags],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{scenario} round failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def median_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def report(label: str, rounds: list[dict[str, float]]) -> None:
    figures = median_of(rounds)
    shown = ", ".join(f"{k} {v:,.0f}" for k, v in figures.items())
    each = "; ".join(", ".join(f"{v:,.0f}" for v in r.values()) for r in rounds)
    print(f"{label}: {shown}  (median of {len(rounds)}: {each})", flush=True)


# -- over HTTP: POST /e/{key} against a real ``stepwell dev`` -----------------------------------


async def _connection(port: int, request: bytes, count: int, per_request: int) -> None:
    """One keep-alive connection sending ``request`` ``count`` times, each after the last
    answer: plain asyncio streams, so the client costs far less than the server it loads."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for _ in range(count):
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200") or body.count(b",") + 1 < per_request:
                raise RuntimeError(f"refused: {head[:40]!r} {body[:200]!r}")
    finally:
        writer.close()


async def client_round(origin: str, requests: int, per_request: int, concurrency: int) -> None:
    """One client process: ``requests`` POSTs of ``per_request`` events over ``concurrency``
    connections; prints its first start and last end (CLOCK_MONOTONIC is shared by processes)."""
    one = {"name": "bench/http", "data": {"i": 1}}
    body = json.dumps(one if per_request == 1 else [one] * per_request).encode()
    port = int(origin.rsplit(":", 1)[1])
    request = (
        b"POST /e/key HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await _connection(port, request, 1, per_request)  # warm
    started = time.clock_gettime(time.CLOCK_MONOTONIC)
    await asyncio.gather(
        *(
            _connection(port, request, requests // concurrency, per_request)
            for _ in range(concurrency)
        )
    )
    ended = time.clock_gettime(time.CLOCK_MONOTONIC)
    print(json.dumps({"started": started, "ended": ended}))


CLIENTS = 2
CONCURRENCY = 32  # connections per client process


def http_round(origin: str, requests: int, per_request: int) -> float:
    """Events/s accepted over all client processes (each answer means the events are durable)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    command = [sys.executable, __file__, "--client", origin, str(requests // CLIENTS)]
    children = [
        subprocess.Popen(
            [*command, str(per_request), str(CONCURRENCY)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(CLIENTS)
    ]
    spans = []
    for child in children:
        out, err = child.communicate(timeout=600)
        if child.returncode != 0:
            raise RuntimeError(f"client failed:\n{err[-2000:]}")
        spans.append(json.loads(out.strip().splitlines()[-1]))
    elapsed = float(max(s["ended"] for s in spans) - min(s["started"] for s in spans))
    return sent_requests(requests) * per_request / elapsed


def sent_requests(requests: int) -> int:
    return (requests // CLIENTS // CONCURRENCY) * CONCURRENCY * CLIENTS


@contextlib.contextmanager
def dev_server(tmp: Path) -> Iterator[tuple[str, int]]:
    """``stepwell dev`` with no apps (events are only stored): its origin and its pid."""
    import httpx

    from bench import over_http

    port = over_http.free_port()
    command = [sys.executable, "-m", "stepwell", "dev", "--port", str(port), "--no-discovery"]
    command += ["--database", over_http.database_for(tmp, port), "--poll-interval", "1"]
    origin = f"http://127.0.0.1:{port}"
    with over_http.process(command, dict(os.environ), tmp / f"dev-{port}.log") as child:
        over_http.wait_until(
            lambda: httpx.get(f"{origin}/health").status_code == 200, 120, "server"
        )
        yield origin, child.pid


def http_rounds(tmp: Path, postgres: str | None, rounds: int, scale: int) -> None:
    """Each figure with the server's CPU per request (user + system, all its threads, from
    /proc): the machine is shared, and CPU per request moves far less with the load than
    requests/s do."""
    from bench import over_http

    over_http.POSTGRES_ADMIN = postgres
    with over_http._databases, dev_server(tmp) as (origin, pid):
        for label, requests, per_request in (
            ("single events", 32_000 // scale, 1),
            ("arrays of 100", 3_200 // scale, 100),
        ):
            figures, cpu_us = [], []
            for _ in range(rounds):
                cpu0 = over_http.cpu_seconds(pid)
                figures.append(http_round(origin, requests, per_request))
                cpu_us.append(1e6 * (over_http.cpu_seconds(pid) - cpu0) / sent_requests(requests))
            each = ", ".join(f"{f:,.0f}" for f in figures)
            print(
                f"POST /e/{{key}} {label}: {statistics.median(figures):,.0f} events/s, server "
                f"{statistics.median(cpu_us):,.0f} us CPU/request ({requests:,} requests, "
                f"{CLIENTS} client processes x {CONCURRENCY} connections; median of {rounds}: "
                f"{each}; load {os.getloadavg()[0]:.2f})",
                flush=True,
            )


# -- main ----------------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[4], sys.argv[2], int(sys.argv[3]), "--no-checkpointing" not in sys.argv)
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        origin, requests, per_request, concurrency = sys.argv[2:6]
        asyncio.run(client_round(origin, int(requests), int(per_request), int(concurrency)))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="send,sleep,http")
    parser.add_argument(
        "--no-checkpointing", action="store_true", help="embedded: checkpointing=False"
    )
    parser.add_argument(
        "--postgres", nargs="?", const="postgresql://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))
    scale = 10 if args.quick else 1
    backend = "PostgreSQL" if args.postgres else "SQLite"
    with tempfile.TemporaryDirectory(prefix="stepwell-ingest-") as name:
        tmp = Path(name)
        for scenario, events in (("send", 20_000 // scale), ("sleep", 100_000 // scale)):
            if scenario not in only:
                continue
            rounds = []
            for r in range(args.rounds):
                with fresh_database(tmp, args.postgres, f"{scenario}{r}") as database:
                    rounds.append(run_child(database, scenario, events, not args.no_checkpointing))
            mode = ", no checkpointing" if args.no_checkpointing else ""
            report(
                f"{backend} engine.send {scenario} ({events:,} events, batches of {BATCH}{mode})",
                rounds,
            )
        if "http" in only:
            print(f"server: stepwell dev on {backend}", flush=True)
            http_rounds(tmp, args.postgres, args.rounds, scale)


if __name__ == "__main__":
    main()
