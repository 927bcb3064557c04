"""An app on our SDK, served over HTTP to several ``stepwell start`` processes (scale-out test).

It records every step body it runs (run, step, start time), the most bodies ever in flight at
once (a concurrency limit must hold across all server processes), and each cron tick.
Configured by the usual env: INNGEST_SIGNING_KEY, INNGEST_EVENT_KEY, INNGEST_BASE_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import stepwell
from stepwell import Context

STEPS = 10
LIMIT = 5

app_def = stepwell.App("scale")
executions: list[list[Any]] = []
ticks: list[str] = []
in_flight = 0
most_in_flight = 0


async def body(run_id: str, index: int) -> int:
    global in_flight, most_in_flight
    in_flight += 1
    most_in_flight = max(most_in_flight, in_flight)
    executions.append([run_id, f"s{index}", time.time()])
    try:
        await asyncio.sleep(0.002)  # long enough for overlapping calls to show
        return index
    finally:
        in_flight -= 1


@app_def.function(
    "ten", trigger=stepwell.on_event("scale/go"), concurrency={"limit": LIMIT}, retries=20
)
async def ten(ctx: Context) -> Any:
    total = 0
    for i in range(STEPS):
        total += await ctx.step.run(f"s{i}", body, ctx.run_id, i)
    return [ctx.event.data["n"], total]


@app_def.function("tick", trigger=stepwell.on_cron("* * * * *"))
async def tick(ctx: Context) -> str:
    scheduled = str(ctx.event.data["scheduledAt"])
    await ctx.step.run("record", lambda: ticks.append(scheduled))
    return scheduled


async def stats(request: Request) -> JSONResponse:
    return JSONResponse(
        {"most_in_flight": most_in_flight, "executions": executions, "ticks": ticks}
    )


app = Starlette(
    routes=[
        # Async checkpointing on (the default): each call runs on through its steps, and
        # its checkpoints go to the first server, which forwards them to the caller.
        Route("/api/inngest", stepwell.serve(app_def), methods=["GET", "PUT", "POST"]),
        Route("/stats", stats),
    ]
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
