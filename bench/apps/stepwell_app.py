"""The 20-step function of bench/apps/official_py_app.py, on our SDK served over HTTP, and a
500-step one for bench/http_vs_embedded.py."""

import time

from starlette.applications import Starlette
from starlette.routing import Route

import stepwell
from stepwell import Context

STEPS = 20

app_def = stepwell.App("benchsw")


@app_def.function("steps20", trigger=stepwell.on_event("bench/sw-steps20"))
async def steps20(ctx: Context) -> list[float]:
    return [await ctx.step.run(f"s{i}", time.time) for i in range(STEPS)]


LONG_STEPS = 500


@app_def.function("steps500", trigger=stepwell.on_event("bench/sw-steps500"))
async def steps500(ctx: Context) -> int:
    """Back-to-back steps in one run (bench/http_vs_embedded.py)."""
    for i in range(LONG_STEPS):
        await ctx.step.run(f"s{i}", lambda i=i: i)
    return LONG_STEPS


app = Starlette(
    routes=[
        Route("/api/inngest", stepwell.serve(app_def, is_dev=True), methods=["GET", "PUT", "POST"])
    ]
)
