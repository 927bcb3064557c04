"""A 20-step function on the official inngest SDK (FastAPI), for bench/http.py.

Each step returns the wall time its body started, so the run's output shows the gaps between
steps: one full round trip each (answer, store, next call, replay, run).
"""

import time

import inngest
import inngest.fast_api
from fastapi import FastAPI

STEPS = 20

client = inngest.Inngest(app_id="benchpy", is_production=False)


async def stamp() -> float:
    return time.time()


@client.create_function(fn_id="steps20", trigger=inngest.TriggerEvent(event="bench/steps20"))
async def steps20(ctx: inngest.Context) -> list[float]:
    stamps: list[float] = []
    for i in range(STEPS):
        stamps.append(await ctx.step.run(f"s{i}", stamp))
    return stamps


app = FastAPI()
inngest.fast_api.serve(app, client, [steps20])
