"""Where ``stepwell dev``'s CPU goes at 20 runs x 20 steps over HTTP (bench/PROFILE.md).

    PYTHONPATH=src:. .venv/bin/python -m bench.profile_server [--batches 5] [--rate 100]
        [--apps official,ours] [--out DIR]

For each app (the official Python SDK's, ours), ``stepwell dev`` runs under
``py-spy record --nonblocking --format speedscope`` (launched by py-spy: attaching to a
running pid fails on this machine), the bench sends ``--batches`` batches of 20 runs at once,
then py-spy is stopped and its samples are summarised: the share of the server's samples
by package (the frame nearest the leaf that names one), the stepwell functions with the most
inclusive time, and the hottest leaf functions. CPU per step is measured from /proc in the
same run, so the shares can be turned into milliseconds per step.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.over_http import STEPS, Peer, cpu_seconds, inngest_stack, machine_busy

APPS = {
    "official": (
        "official inngest 0.5.19 (Python)",
        "bench.apps.official_py_app:app",
        "benchpy-steps20",
        "bench/steps20",
    ),
    "ours": (
        "Stepwell SDK (served over HTTP)",
        "bench.apps.stepwell_app:app",
        "benchsw-steps20",
        "bench/sw-steps20",
    ),
}

# (category, substrings of a frame's file path or name); the first frame from the leaf up
# that matches one decides the sample's category.
CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    ("import (start-up)", ("<frozen importlib._bootstrap",)),
    ("sqlite3 (C: execute/commit)", ("sqlite3/", "execute (", "commit (")),
    ("json (stdlib)", ("json/",)),
    ("jcs (canonical JSON)", ("jcs/",)),
    ("hmac/hashlib (signing)", ("hmac.py", "hashlib")),
    ("pydantic", ("pydantic",)),
    ("httpx", ("httpx/",)),
    ("httpcore/h11", ("httpcore/", "h11/")),
    ("anyio", ("anyio/",)),
    ("starlette", ("starlette/",)),
    ("uvicorn/httptools", ("uvicorn/", "httptools")),
    ("graphql", ("graphql/",)),
    ("cel", ("cel/", "/cel.")),
    ("stepwell.store", ("stepwell/store/",)),
    ("stepwell.drivers", ("stepwell/drivers/",)),
    ("stepwell.protocol", ("stepwell/protocol/",)),
    ("stepwell.engine", ("stepwell/engine/",)),
    ("stepwell.server", ("stepwell/server/",)),
    ("stepwell.core", ("stepwell/core/",)),
    ("stepwell (other)", ("stepwell/",)),
    ("asyncio/uvloop", ("asyncio/", "uvloop")),
    ("threading/queue", ("threading.py", "queue.py", "concurrent/futures")),
    ("logging", ("logging/",)),
]


def frame_text(frame: dict[str, Any]) -> str:
    return f"{frame.get('name', '')} ({frame.get('file', '')}:{frame.get('line', '')})"


def category_of(stack: list[dict[str, Any]]) -> str:
    for frame in reversed(stack):  # speedscope stacks run from the root to the leaf
        text = f"{frame.get('file', '')} {frame.get('name', '')} ("
        for name, needles in CATEGORIES:
            if any(needle in text for needle in needles):
                return name
    return "other"


def summarise(path: Path, top: int = 25) -> dict[str, Any]:
    data = json.loads(path.read_text())
    frames: list[dict[str, Any]] = data["shared"]["frames"]
    by_category: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    by_thread: collections.Counter[str] = collections.Counter()
    # The event loop's thread alone: the writer thread's samples are mostly waits (its queue,
    # fsync in COMMIT) with the GIL released, which py-spy here does not count as idle.
    loop_categories: collections.Counter[str] = collections.Counter()
    loop_total = 0.0
    total = 0.0
    for profile in data["profiles"]:
        thread = str(profile.get("name", "?"))
        for sample, weight in zip(profile["samples"], profile["weights"], strict=True):
            stack = [frames[i] for i in sample]
            if not stack:
                continue
            category = category_of(stack)
            by_category[category] += weight
            if category == "import (start-up)":
                continue
            total += weight
            by_thread[thread.split(" ")[0] + " " + thread.split(" ")[-1]] += weight
            leaf[frame_text(stack[-1])] += weight
            if "sqlite-writer" not in thread:
                loop_total += weight
                loop_categories[category] += weight
            for text in {frame_text(f) for f in stack if "stepwell/" in f.get("file", "")}:
                inclusive[text] += weight
    startup = by_category.pop("import (start-up)", 0)
    return {
        "samples": total,
        "startup_samples": startup,
        "categories": {k: v / total for k, v in by_category.most_common()},
        "inclusive": {k: v / total for k, v in inclusive.most_common(top)},
        "leaf": {k: v / total for k, v in leaf.most_common(top)},
        "threads": {k: v / total for k, v in by_thread.most_common()},
        "loop_categories": {k: v / loop_total for k, v in loop_categories.most_common()},
    }


def profile_app(
    name: str, tmp: Path, out: Path, batches: int, runs: int, rate: int
) -> dict[str, Any]:
    label, module, slug, event = APPS[name]
    speedscope = out / f"server-{name}.speedscope.json"
    wrap = [
        str(Path(sys.executable).with_name("py-spy")),
        "record",
        "--nonblocking",
        "--rate",
        str(rate),
        "--format",
        "speedscope",
        "--output",
        str(speedscope),
        "--",
    ]
    with inngest_stack(tmp, label, module, slug, event, wrap) as peer:
        spy = peer_parent(peer)
        peer.batch(2)  # warm-up
        server0 = cpu_seconds(peer.server_pid)
        app0 = cpu_seconds(peer.app_pid)
        started = time.perf_counter()
        for _ in range(batches):
            peer.batch(runs)
        elapsed = time.perf_counter() - started
        steps = batches * runs * STEPS
        server_ms = 1000 * (cpu_seconds(peer.server_pid) - server0) / steps
        app_ms = 1000 * (cpu_seconds(peer.app_pid) - app0) / steps
        spy_cpu = cpu_seconds(spy)
        os.kill(spy, signal.SIGINT)  # py-spy writes its file on SIGINT
        deadline = time.monotonic() + 60
        while not speedscope.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)
        os.kill(peer.server_pid, signal.SIGTERM)
    result = summarise(speedscope)
    result.update(
        label=label,
        steps=steps,
        steps_per_s=steps / elapsed,
        server_cpu_ms_per_step=server_ms,
        app_cpu_ms_per_step=app_ms,
        py_spy_cpu_s=spy_cpu,
        speedscope=str(speedscope),
    )
    return result


def peer_parent(peer: Peer) -> int:
    """py-spy's pid: the server's parent."""
    stat = Path(f"/proc/{peer.server_pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(stat[1])


def print_result(result: dict[str, Any], top: int) -> None:
    ms = result["server_cpu_ms_per_step"]
    print(
        f"\n## {result['label']}: {result['steps']} steps, {result['steps_per_s']:.0f} steps/s, "
        f"server {ms:.2f} ms CPU/step, app {result['app_cpu_ms_per_step']:.2f} ms/step "
        f"({result['samples']:.0f} samples; {result['startup_samples']:.0f} of start-up left out)"
    )
    print("\nby package (frame nearest the leaf):")
    for name, share in result["categories"].items():
        print(f"  {share:6.1%}  {share * ms:5.2f} ms  {name}")
    print("\nevent-loop thread only, by package:")
    for name, share in result["loop_categories"].items():
        print(f"  {share:6.1%}  {name}")
    print("\nthreads:")
    for name, share in result["threads"].items():
        print(f"  {share:6.1%}  {name}")
    print("\nstepwell functions, inclusive:")
    for name, share in list(result["inclusive"].items())[:top]:
        print(f"  {share:6.1%}  {share * ms:5.2f} ms  {name}")
    print("\nleaf functions (self time):")
    for name, share in list(result["leaf"].items())[:top]:
        print(f"  {share:6.1%}  {share * ms:5.2f} ms  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--apps", default="official,ours")
    parser.add_argument("--batches", type=int, default=5, help="batches of runs at once")
    parser.add_argument("--runs", type=int, default=20, help="runs at once")
    parser.add_argument("--rate", type=int, default=100, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--out", type=Path, default=None, help="keep the speedscope files here")
    args = parser.parse_args()
    print(f"machine: load {os.getloadavg()[0]:.2f} (1 min), {machine_busy():.0%} busy, 2 cores")
    with tempfile.TemporaryDirectory(prefix="stepwell-profile-") as name:
        tmp = Path(name)
        out = args.out or tmp
        out.mkdir(parents=True, exist_ok=True)
        for app in args.apps.split(","):
            result = profile_app(app.strip(), tmp, out, args.batches, args.runs, args.rate)
            print_result(result, args.top)
            (out / f"summary-{app.strip()}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
