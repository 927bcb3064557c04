"""Fan-out with batching: one import event becomes one event per row, stored ten at a time.

``split-import`` sends an ``imports/row`` event for each row in one ``send_event`` step (sent
exactly once, however often the function replays). ``store-rows`` is batched: it runs once per
ten rows of the same import, or after a second with fewer, and sees them all in ``ctx.events``.
"""

from __future__ import annotations

import asyncio
import sys
import time

import stepwell
from stepwell import Context

app = stepwell.App("fan-out")
STORED: dict[str, list[int]] = {}  # stands in for a database table


@app.function("split-import", trigger=stepwell.on_event("imports/requested"))
async def split_import(ctx: Context) -> int:
    import_id, rows = str(ctx.event.data["import_id"]), list(ctx.event.data["rows"])
    events = [{"name": "imports/row", "data": {"import_id": import_id, "row": r}} for r in rows]
    ids = await ctx.step.send_event("fan-out", events)
    return len(ids)


def save_rows(import_id: str, rows: list[int]) -> int:
    STORED.setdefault(import_id, []).extend(rows)
    return len(rows)


@app.function(
    "store-rows",
    trigger=stepwell.on_event("imports/row"),
    batch_events={"max_size": 10, "timeout": "1s", "key": "event.data.import_id"},
    concurrency={"limit": 2},  # at most two batches written at once
)
async def store_rows(ctx: Context) -> int:
    import_id = str(ctx.event.data["import_id"])
    rows = [int(event.data["row"]) for event in ctx.events]
    return await ctx.step.run("save", save_rows, import_id, rows)


async def main(database: str = "sqlite:///.stepwell/fan-out.db", rows: int = 25) -> list[int]:
    """Import ``rows`` rows; return the size of each batch that stored them."""
    async with app.embedded(database) as engine:
        [event_id] = await engine.send(
            "imports/requested", {"import_id": "imp-1", "rows": list(range(rows))}
        )
        [split] = await engine.wait_for_runs(event_id, timeout=30)
        assert split.status == stepwell.RunStatus.COMPLETED, split.error
        deadline = time.monotonic() + 30
        while True:  # a script waiting for the batches, not a function: polling is fine here
            runs = await engine.list_runs(function_id="fan-out-store-rows")
            sizes = [run.output for run in runs if run.status == stepwell.RunStatus.COMPLETED]
            if sum(sizes) >= rows or time.monotonic() > deadline:
                return sorted(sizes, reverse=True)
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    batches = asyncio.run(main(rows=int(sys.argv[1]) if len(sys.argv) > 1 else 25))
    print("batches:", batches)  # batches: [10, 10, 5]
