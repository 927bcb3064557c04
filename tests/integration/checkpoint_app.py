"""The app of ``test_checkpoint_crash.py``: our SDK served over HTTP (uvicorn, its own process),
one function of ``STEPS`` steps. Each step body appends ``<pid> <run_id> <step> start`` and, once
done, ``... end`` to the file ``$CKPT_LOG`` (one ``O_APPEND`` write per line), so the test can
count how many times each body ran, and in which process."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Any

import stepwell
from stepwell import Context

STEPS = 30
"""Enough that the steps outlast three checkpoints even on a loaded machine: the crash test
waits for two steps past the held batch, which must exist."""
STEP_SECONDS = 0.05
EVENT = "ckpt/go"
FUNCTION_SLUG = "ckpt-steps"

app = stepwell.App("ckpt")


def _append(line: str) -> None:
    fd = os.open(os.environ["CKPT_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{os.getpid()} {line}\n".encode())
    finally:
        os.close(fd)


@app.function("steps", trigger=stepwell.on_event(EVENT), retries=20)
async def steps(ctx: Context) -> list[int]:
    def body(i: int) -> Callable[[], Awaitable[int]]:
        async def run() -> int:
            _append(f"{ctx.run_id} s{i} start")
            await asyncio.sleep(STEP_SECONDS)
            _append(f"{ctx.run_id} s{i} end")
            return i

        return run

    return [await ctx.step.run(f"s{i}", body(i)) for i in range(STEPS)]


def make_asgi() -> Any:
    """For ``uvicorn --factory`` (importing this module serves nothing)."""
    return stepwell.serve(app)
