"""An app on the official inngest SDK (0.5.19) in production ("cloud") mode: it verifies the
signature of every request the server sends it. Run: ``python py_signed_app.py --port P`` with
INNGEST_SIGNING_KEY, INNGEST_EVENT_KEY and INNGEST_BASE_URL set."""

from __future__ import annotations

import argparse

import inngest
import inngest.fast_api
import uvicorn
from fastapi import FastAPI

client = inngest.Inngest(app_id="signedapp", is_production=True)


async def greet() -> str:
    return "hello"


@client.create_function(fn_id="hello", trigger=inngest.TriggerEvent(event="signed/hello"))
async def hello(ctx: inngest.Context) -> str:
    word = await ctx.step.run("greet", greet)
    return f"{word} {ctx.event.data['who']}"


app = FastAPI()
inngest.fast_api.serve(app, client, [hello])

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")
