"""An AI pipeline: a document is cleaned, summarised and labelled with ``step.ai.infer``.

Each model call is a step the engine makes and stores, so a retry or a replay never pays for
the same completion twice. The model is OpenAI's chat API at ``MODEL_BASE_URL`` (the stand-in
of ``model_server.py`` by default); any service that speaks it works, through ``base_url``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import stepwell
from examples.ai_pipeline.model_server import running
from stepwell import Context

app = stepwell.App("ai-pipeline")
MODEL = stepwell.ai.openai(
    api_key=os.environ.get("OPENAI_API_KEY", "stand-in-key"),
    model=os.environ.get("MODEL_NAME", "gpt-4o-mini"),
    base_url=os.environ.get("MODEL_BASE_URL", "http://127.0.0.1:8790/v1/"),
)


def clean(text: str) -> str:
    return " ".join(text.split())


def first_choice(answer: dict[str, Any]) -> str:
    return str(answer["choices"][0]["message"]["content"]).strip()


def chat(system: str, user: str) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}


# A model is a shared, rate-limited service: at most a few documents at a time talk to it.
@app.function(
    "summarise-document",
    trigger=stepwell.on_event("docs/uploaded"),
    retries=2,
    concurrency=stepwell.Concurrency(limit=4),
)
async def summarise_document(ctx: Context) -> dict[str, str]:
    text = await ctx.step.run("clean", clean, str(ctx.event.data["text"]))
    summary_answer = await ctx.step.ai.infer(
        "summarise", adapter=MODEL, body=chat("Summarise in one sentence.", text)
    )
    label_answer = await ctx.step.ai.infer(
        "label", adapter=MODEL, body=chat("Answer with one label.", text)
    )
    summary, label = first_choice(summary_answer), first_choice(label_answer)
    await ctx.step.send_event(
        "index",
        {"name": "docs/summarised", "data": {"doc_id": ctx.event.data["doc_id"], "label": label}},
    )
    return {"summary": summary, "label": label}


async def main(database: str = "sqlite:///.stepwell/ai.db") -> dict[str, str]:
    async with app.embedded(database) as engine:
        [event_id] = await engine.send(
            "docs/uploaded",
            {"doc_id": "d-1", "text": "Invoice 88 is   overdue. Please pay by Friday."},
        )
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        output: dict[str, str] = run.output
        return output


if __name__ == "__main__":
    with running(8790):  # the stand-in model, on MODEL_BASE_URL's default port
        print(asyncio.run(main()))  # {'summary': 'Invoice 88 is overdue.', 'label': 'billing'}
