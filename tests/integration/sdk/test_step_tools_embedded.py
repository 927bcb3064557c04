"""The step tools beyond run/sleep/events, embedded on both backends: ``step.fetch`` and
``step.ai.infer`` (made once by the SDK's in-process gateway and replayed from the memo),
signals, ``ctx.group.parallel``, ``invoke`` by app and function id, in async and sync
functions. The providers are a stand-in on loopback that checks each one's auth and URL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

import stepwell
from stepwell import Context, SyncContext
from tests.integration.sdk.serving import serving
from tests.waiting import eventually


class StandIn:
    """A loopback stand-in for a web service and three model providers; counts its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def asgi(self) -> Starlette:
        async def echo(request: Request) -> PlainTextResponse:
            self.calls.append("echo")
            body = (await request.body()).decode()
            text = f"{request.method} {request.headers.get('x-test', '')} {body}"
            return PlainTextResponse(text, status_code=201, headers={"X-Served": "yes"})

        async def openai(request: Request) -> JSONResponse:
            self.calls.append("openai")
            if request.headers.get("authorization") != "Bearer sk-open":
                return JSONResponse({"error": "bad auth"}, status_code=401)
            body = await request.json()
            reply = f"openai:{body['model']}:{body['messages'][0]['content']}"
            return JSONResponse({"choices": [{"message": {"content": reply}}]})

        async def anthropic(request: Request) -> JSONResponse:
            self.calls.append("anthropic")
            if request.headers.get("x-api-key") != "sk-ant" or not request.headers.get(
                "anthropic-version"
            ):
                return JSONResponse({"error": "bad auth"}, status_code=401)
            body = await request.json()
            return JSONResponse(
                {"content": [{"text": f"claude:{body['model']}:{body['max_tokens']}"}]}
            )

        async def gemini(request: Request) -> JSONResponse:
            self.calls.append("gemini")
            if request.query_params.get("key") != "g-key":
                return JSONResponse({"error": "bad auth"}, status_code=401)
            model = request.path_params["model"]
            return JSONResponse({"candidates": [{"content": {"parts": [{"text": model}]}}]})

        return Starlette(
            routes=[
                Route("/echo", echo, methods=["GET", "POST"]),
                Route("/openai/v1/chat/completions", openai, methods=["POST"]),
                Route("/anthropic/v1/messages", anthropic, methods=["POST"]),
                Route("/gemini/v1beta/models/{model}:generateContent", gemini, methods=["POST"]),
            ]
        )


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[StandIn, str]]:
    fake = StandIn()
    async with serving(fake.asgi()) as url:
        yield fake, url


def adapters(base: str) -> list[Any]:
    return [
        stepwell.ai.openai(api_key="sk-open", model="gpt-x", base_url=f"{base}/openai/v1"),
        stepwell.ai.anthropic(api_key="sk-ant", model="claude-x", base_url=f"{base}/anthropic/v1"),
        stepwell.ai.gemini(api_key="g-key", model="gem-x", base_url=f"{base}/gemini/v1beta"),
    ]


def tools_app(base: str) -> stepwell.App:
    app = stepwell.App("tools")
    openai, anthropic, gemini = adapters(base)
    chat = {"messages": [{"role": "user", "content": "hi"}]}

    @app.function("async-tools", trigger=stepwell.on_event("tools/async"))
    async def async_tools(ctx: Context) -> dict[str, Any]:
        got = await ctx.step.fetch(
            "get", f"{base}/echo", method="POST", headers={"X-Test": "t"}, body={"a": 1}
        )
        # A later sleep makes the function replay: the fetch is read from the memo.
        await ctx.step.sleep("nap", "10ms")
        o = await ctx.step.ai.infer("o", adapter=openai, body=chat)
        a = await ctx.step.ai.infer("a", adapter=anthropic, body=chat)
        g = await ctx.step.ai.infer("g", adapter=gemini, body={"contents": []})
        return {
            "status": got.status,
            "text": got.text,
            "served": got.header("x-served"),
            "o": o["choices"][0]["message"]["content"],
            "a": a["content"][0]["text"],
            "g": g["candidates"][0]["content"]["parts"][0]["text"],
        }

    @app.function("sync-tools", trigger=stepwell.on_event("tools/sync"))
    def sync_tools(ctx: SyncContext) -> dict[str, Any]:
        got = ctx.step.fetch("get", f"{base}/echo")
        ctx.step.sleep("nap", "10ms")
        o = ctx.step.ai.infer("o", adapter=openai, body=chat)
        both = ctx.group.parallel([lambda: ctx.step.run("x", lambda: 1), lambda: 2])
        first = ctx.group.parallel([lambda: "r1", lambda: "r2"], mode="race")
        child = ctx.step.invoke("inv", app_id="tools", function_id="child", data={"n": 4})
        return {
            "status": got.status,
            "o": o["choices"][0]["message"]["content"],
            "both": both,
            "first": first,
            "child": child,
        }

    @app.function("child", trigger=stepwell.on_event("tools/child"))
    async def child(ctx: Context) -> int:
        return int(ctx.event.data["n"]) * 10

    @app.function("broken-fetch", trigger=stepwell.on_event("tools/broken"), retries=1)
    async def broken(ctx: Context) -> str:
        await ctx.step.fetch("nowhere", f"{base.rsplit(':', 1)[0]}:1/none")
        return "unreachable"

    return app


async def _run(engine: stepwell.Engine, name: str) -> stepwell.Run:
    [event_id] = await engine.send(name, {})
    [run] = await engine.wait_for_runs(event_id, timeout=30)
    return run


async def test_fetch_and_ai_are_made_once_and_replayed(
    db_url: str, stand_in: tuple[StandIn, str]
) -> None:
    fake, base = stand_in
    app = tools_app(base)
    async with app.embedded(db_url, retry_interval=0.05, poll_interval=0.05) as engine:
        run = await _run(engine, "tools/async")
        assert run.status is stepwell.RunStatus.COMPLETED, run.error
        assert run.output == {
            "status": 201,
            "text": 'POST t {"a":1}',
            "served": "yes",
            "o": "openai:gpt-x:hi",
            "a": "claude:claude-x:4096",
            "g": "gem-x",
        }
        # Replayed after the sleep, yet each request was made exactly once.
        assert fake.calls == ["echo", "openai", "anthropic", "gemini"]

        fake.calls.clear()
        run = await _run(engine, "tools/sync")
        assert run.status is stepwell.RunStatus.COMPLETED, run.error
        assert run.output == {
            "status": 201,
            "o": "openai:gpt-x:hi",
            "both": [1, 2],
            "first": "r1",
            "child": 40,
        }
        assert fake.calls == ["echo", "openai"]

        run = await _run(engine, "tools/broken")
        assert run.status is stepwell.RunStatus.FAILED
        assert run.error is not None
        assert "GatewayError" in str(run.error)


def signal_app(seen: list[Any]) -> stepwell.App:
    app = stepwell.App("signals")

    @app.function("waiter", trigger=stepwell.on_event("sig/wait"))
    async def waiter(ctx: Context) -> Any:
        got = await ctx.step.wait_for_signal("w", signal=ctx.event.data["signal"], timeout="1h")
        late = await ctx.step.wait_for_signal("late", signal="never", timeout="10ms")
        seen.append(got)
        return {"got": got, "late": late}

    @app.function("sync-waiter", trigger=stepwell.on_event("sig/sync"))
    def sync_waiter(ctx: SyncContext) -> Any:
        return ctx.step.wait_for_signal("w", signal="sync-sig", timeout="1h", on_conflict="fail")

    return app


async def test_a_signal_resumes_its_waiter_and_a_wait_times_out(db_url: str) -> None:
    seen: list[Any] = []
    app = signal_app(seen)
    async with app.embedded(db_url, poll_interval=0.02) as engine:
        [event_id] = await engine.send("sig/wait", {"signal": "order-7"})
        [sync_event] = await engine.send("sig/sync", {})
        assert await engine.send_signal("nobody-waits", {}) is None
        delivered: list[str | None] = []

        async def signalled() -> bool:
            delivered[:] = [await engine.send_signal("order-7", {"ok": True})]
            return delivered[0] is not None

        await eventually(signalled, timeout=10, what="a waiter for order-7")
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        assert run.run_id == delivered[0]
        assert run.status is stepwell.RunStatus.COMPLETED, run.error
        assert run.output == {"got": {"ok": True}, "late": None}

        async def sync_signalled() -> bool:
            return await engine.send_signal("sync-sig", [1, 2]) is not None

        await eventually(sync_signalled, timeout=10, what="the sync waiter")
        [run] = await engine.wait_for_runs(sync_event, timeout=30)
        assert run.output == [1, 2]


def group_app(calls: list[str]) -> stepwell.App:
    app = stepwell.App("groups")

    @app.function("all-and-race", trigger=stepwell.on_event("grp/go"))
    async def all_and_race(ctx: Context) -> Any:
        def body(name: str) -> str:
            calls.append(name)
            return name

        both = await ctx.group.parallel(
            [lambda: ctx.step.run("a", body, "a"), lambda: ctx.step.run("b", body, "b")]
        )
        winner = await ctx.group.parallel(
            [
                lambda: ctx.step.run("fast", body, "fast"),
                lambda: ctx.step.run("slow", body, "slow"),
            ],
            mode="race",
        )
        await ctx.step.sleep("nap", "10ms")  # a replay: every step comes from the memo
        return {"both": both, "winner": winner}

    return app


async def test_group_parallel_all_and_race(db_url: str) -> None:
    calls: list[str] = []
    app = group_app(calls)
    async with app.embedded(db_url, poll_interval=0.02) as engine:
        run = await _run(engine, "grp/go")
    assert run.status is stepwell.RunStatus.COMPLETED, run.error
    assert run.output == {"both": ["a", "b"], "winner": "fast"}
    # The race's loser still ran (once) and kept its result; nothing ran twice.
    assert sorted(calls) == ["a", "b", "fast", "slow"]
