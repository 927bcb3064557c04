"""The 20-step function of bench/apps/official_py_app.py, on our SDK served over HTTP."""

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


app = Starlette(
    routes=[
        Route("/api/inngest", stepwell.serve(app_def, is_dev=True), methods=["GET", "PUT", "POST"])
    ]
)
