"""One process of bench/scale_out.py: an embedded engine on the shared database that starts
its share of runs at an agreed instant and prints its timings as JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import stepwell
from stepwell import Context

app = stepwell.App("scale")


@app.function("work", trigger=stepwell.on_event("bench/scale"))
async def work(ctx: Context) -> int:
    for i in range(int(ctx.event.data["steps"])):
        await ctx.step.run(f"s{i}", lambda: {"ok": True})
    return 0


async def main(database: str, runs: int, steps: int, start_at: float) -> None:
    async with app.embedded(database) as engine:
        await asyncio.sleep(max(0.0, start_at - time.time()))  # everyone starts together
        started = time.time()
        ids = await engine.send(
            [stepwell.Event(name="bench/scale", data={"steps": steps}) for _ in range(runs)]
        )
        for event_id in ids:
            await engine.wait_for_runs(event_id, timeout=600)
        finished = time.time()
    print(json.dumps({"started": started, "finished": finished, "steps": runs * steps}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--start-at", type=float, required=True)
    args = parser.parse_args()
    asyncio.run(main(args.database, args.runs, args.steps, args.start_at))
