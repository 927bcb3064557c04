"""Scale-out on PostgreSQL: start this worker three times (or on three hosts) on one database.

Each worker is an embedded engine on the same PostgreSQL database; they know of each other only
through it. Work is claimed with ``FOR UPDATE SKIP LOCKED`` under leases, so each step runs in
one process, and a worker that dies has its work taken over when its leases expire. The
``sleep`` in the middle of the function lets the second half of a run land on any worker.
The concurrency limit of 4 holds across all of them: its slots are kept in the database.

    python -m examples.pg_scale_out.worker --database postgresql://app@db/stepwell --send 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket

import stepwell
from stepwell import Context

app = stepwell.App("scale-demo")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def resize(job_id: int) -> dict[str, object]:
    return {"job_id": job_id, "thumbnail": f"thumb-{job_id}.png"}


@app.function("process-job", trigger=stepwell.on_event("jobs/submitted"), concurrency={"limit": 4})
async def process_job(ctx: Context) -> dict[str, object]:
    job_id = int(ctx.event.data["job_id"])
    started_by = await ctx.step.run("start", worker_name)
    result = await ctx.step.run("resize", resize, job_id)
    await ctx.step.sleep("settle", "1s")
    finished_by = await ctx.step.run("finish", worker_name)
    return {**result, "started_by": started_by, "finished_by": finished_by}


async def serve(database: str, send: int, first_job: int) -> None:
    """Run as one worker until SIGTERM or Ctrl-C; send ``send`` jobs first."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with app.embedded(database, poll_interval=0.5) as engine:
        if send:
            jobs = [
                stepwell.Event(name="jobs/submitted", data={"job_id": first_job + i})
                for i in range(send)
            ]
            await engine.send(jobs)
        print(f"worker {worker_name()} ready", flush=True)
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="One Stepwell worker on PostgreSQL.")
    parser.add_argument("--database", default=os.environ.get("STEPWELL_DATABASE_URL"))
    parser.add_argument("--send", type=int, default=0, help="jobs to submit on start")
    parser.add_argument("--first-job", type=int, default=0)
    args = parser.parse_args()
    if not args.database or not args.database.startswith("postgresql"):
        parser.error("--database postgresql://... (or STEPWELL_DATABASE_URL) is required")
    asyncio.run(serve(args.database, args.send, args.first_job))
