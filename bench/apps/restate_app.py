"""The 20-step function of bench/apps/official_py_app.py as a Restate service (restate-sdk).

Served by hypercorn (the server Restate's Python templates use) and registered with a
``restate-server`` that bench/over_http.py starts. Each ``ctx.run_typed`` step journals the
wall time its body started, so the invocation's output shows the gaps between steps.
"""

import time

import restate

STEPS = 20

bench = restate.Service("Bench")


def stamp() -> float:
    # A plain function: run_typed inspects the action's signature, which builtins lack.
    return time.time()


@bench.handler()
async def steps20(ctx: restate.Context, n: int) -> list[float]:
    return [await ctx.run_typed(f"s{i}", stamp) for i in range(STEPS)]


app = restate.app(services=[bench])
