"""An app on our SDK whose checkpoints go to one server while another one calls it (the
checkpoint forwarding test). It counts the calls each run takes: with every checkpoint taken,
a run of plain steps takes one. Configured by INNGEST_SIGNING_KEY, INNGEST_EVENT_KEY and
INNGEST_BASE_URL (the server its checkpoints go to)."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import stepwell
from stepwell import Context

STEPS = 5

app_def = stepwell.App("forward")
calls: Counter[str] = Counter()


@app_def.function("five", trigger=stepwell.on_event("forward/go"))
async def five(ctx: Context) -> Any:
    calls[ctx.run_id] += 1  # runs again on every call of the run
    total = 0
    for i in range(STEPS):
        total += await ctx.step.run(f"s{i}", lambda i=i: i)
    return total


async def stats(request: Request) -> JSONResponse:
    return JSONResponse({"calls": calls})


app = Starlette(
    routes=[
        Route("/api/inngest", stepwell.serve(app_def), methods=["GET", "PUT", "POST"]),
        Route("/stats", stats),
    ]
)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
