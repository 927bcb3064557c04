"""EncryptionMiddleware beyond ``step.run``, embedded on a real SQLite file: ``step.fetch`` and
``step.ai.infer`` responses, ``step.invoke`` payloads and results, ``step.send_event`` data and
``engine.invoke`` results. Each test reads the rows the engine wrote and checks that they hold
ciphertext, and that the function (or the caller) saw the plain values."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

import stepwell
from stepwell import Context, SyncContext
from stepwell.protocol.step_ids import hash_step_id
from stepwell.sdk.encryption import is_encrypted
from tests.integration.sdk.test_step_tools_embedded import StandIn, adapters, stand_in

__all__ = ["db_rows", "memo_row", "stand_in"]

CHAT = {"messages": [{"role": "user", "content": "card 4242"}]}


@contextlib.contextmanager
def db_rows(url: str) -> Iterator[sqlite3.Connection]:
    """A read-only connection to the SQLite file behind ``url``."""
    path = url.removeprefix("sqlite:///")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def memo_row(conn: sqlite3.Connection, run_id: str, step_id: str) -> tuple[str, Any]:
    """The stored memo of ``step_id`` in the run: (its raw text, its ``data``)."""
    [(raw,)] = conn.execute(
        "SELECT value FROM steps WHERE run_id = ? AND step_hash = ?",
        (run_id, hash_step_id(step_id)),
    ).fetchall()
    return raw, json.loads(raw)["data"]


def gateway_app(base: str, mw: stepwell.EncryptionMiddleware, seen: list[Any]) -> stepwell.App:
    app = stepwell.App("enc-gw", middleware=[mw])
    openai = adapters(base)[0]

    @app.function("async", trigger=stepwell.on_event("gw/async"))
    async def async_fn(ctx: Context) -> str:
        got = await ctx.step.fetch("get", f"{base}/echo", method="POST", body="card 4242")
        reply = await ctx.step.ai.infer("ask", adapter=openai, body=CHAT)
        # The sleep makes the function replay: both responses come back from the memo.
        await ctx.step.sleep("nap", "10ms")
        seen.append(("async", got.status, got.text, got.header("x-served"), reply))
        return got.text

    @app.function("sync", trigger=stepwell.on_event("gw/sync"))
    def sync_fn(ctx: SyncContext) -> str:
        got = ctx.step.fetch("get", f"{base}/echo", method="POST", body="card 4242")
        reply = ctx.step.ai.infer("ask", adapter=openai, body=CHAT)
        ctx.step.sleep("nap", "10ms")
        seen.append(("sync", got.status, got.text, got.header("x-served"), reply))
        return got.text

    return app


async def test_fetch_and_ai_responses_are_stored_encrypted(
    sqlite_url: str, stand_in: tuple[StandIn, str]
) -> None:
    fake, base = stand_in
    mw = stepwell.EncryptionMiddleware("gw-secret")
    seen: list[Any] = []
    runs: dict[str, str] = {}
    async with gateway_app(base, mw, seen).embedded(sqlite_url, poll_interval=0.02) as engine:
        for kind in ("async", "sync"):
            [event_id] = await engine.send(f"gw/{kind}", {})
            [run] = await engine.wait_for_runs(event_id, timeout=30)
            assert run.status is stepwell.RunStatus.COMPLETED, run.error
            assert mw.decrypt(run.output) == "POST  card 4242"
            runs[kind] = run.run_id
    # Each request was made once; the replays read the responses from the memo.
    assert fake.calls == ["echo", "openai", "echo", "openai"]
    reply = {"choices": [{"message": {"content": "openai:gpt-x:card 4242"}}]}
    assert seen == [
        ("async", 201, "POST  card 4242", "yes", reply),
        ("sync", 201, "POST  card 4242", "yes", reply),
    ]
    with db_rows(sqlite_url) as conn:
        for run_id in runs.values():
            raw, fetched = memo_row(conn, run_id, "get")
            assert is_encrypted(fetched)
            assert "4242" not in raw
            assert mw.decrypt(fetched)["status_code"] == 201
            assert mw.decrypt(fetched)["body"] == "POST  card 4242"
            raw, answered = memo_row(conn, run_id, "ask")
            assert is_encrypted(answered)
            assert "4242" not in raw
            assert mw.decrypt(answered) == reply


def invoking_app(mw: stepwell.EncryptionMiddleware, seen: list[Any]) -> stepwell.App:
    app = stepwell.App("enc-inv", middleware=[mw])

    @app.function("child")
    async def child(ctx: Context) -> dict[str, Any]:
        data = {k: v for k, v in ctx.event.data.items() if k != "_inngest"}
        seen.append(("child", data))
        return {"pan": data["encrypted"]["card"], "n": data["plain"]}

    @app.function("parent", trigger=stepwell.on_event("inv/async"))
    async def parent(ctx: Context) -> Any:
        data = {"encrypted": {"card": "4242"}, "plain": 1}
        got = await ctx.step.invoke("inv", function=child, data=data)
        await ctx.step.send_event(
            "tell", stepwell.Event(name="inv/told", data={"encrypted": got, "plain": 2})
        )
        seen.append(("parent", got))
        return got

    @app.function("sync-parent", trigger=stepwell.on_event("inv/sync"))
    def sync_parent(ctx: SyncContext) -> Any:
        data = {"encrypted": {"card": "4242"}, "plain": 3}
        got = ctx.step.invoke("inv", function=child, data=data)
        seen.append(("sync-parent", got))
        return got

    return app


def invoked_bodies(conn: sqlite3.Connection, name: str) -> list[tuple[str, dict[str, Any]]]:
    rows = conn.execute("SELECT body FROM events WHERE name = ? ORDER BY received_at", (name,))
    return [(raw, json.loads(raw)["data"]) for (raw,) in rows.fetchall()]


async def test_invoke_payloads_results_and_sent_events_are_encrypted(sqlite_url: str) -> None:
    mw = stepwell.EncryptionMiddleware("inv-secret")
    seen: list[Any] = []
    runs: dict[str, str] = {}
    async with invoking_app(mw, seen).embedded(sqlite_url, poll_interval=0.02) as engine:
        for kind in ("async", "sync"):
            [event_id] = await engine.send(f"inv/{kind}", {})
            [run] = await engine.wait_for_runs(event_id, timeout=30)
            assert run.status is stepwell.RunStatus.COMPLETED, run.error
            runs[kind] = run.run_id
    n_async, n_sync = {"pan": "4242", "n": 1}, {"pan": "4242", "n": 3}
    assert seen == [
        ("child", {"encrypted": {"card": "4242"}, "plain": 1}),
        ("parent", n_async),
        ("child", {"encrypted": {"card": "4242"}, "plain": 3}),
        ("sync-parent", n_sync),
    ]
    with db_rows(sqlite_url) as conn:
        # What each invoke sent: the chosen field sealed, the rest plain.
        invoked = invoked_bodies(conn, "inngest/function.invoked")
        assert [data["plain"] for _, data in invoked] == [1, 3]
        for raw, data in invoked:
            assert "4242" not in raw
            assert is_encrypted(data["encrypted"])
            assert mw.decrypt(data["encrypted"]) == {"card": "4242"}
        # The child's result as the parent's memo holds it: the child's sealed output.
        for kind, expected in (("async", n_async), ("sync", n_sync)):
            raw, result = memo_row(conn, runs[kind], "inv")
            assert "4242" not in raw
            assert is_encrypted(result)
            assert mw.decrypt(result) == expected
        # And the event the parent sent with that result.
        [(raw, told)] = invoked_bodies(conn, "inv/told")
        assert "4242" not in raw
        assert told["plain"] == 2
        assert mw.decrypt(told["encrypted"]) == n_async


async def test_decrypt_only_sends_invoke_payloads_plain(sqlite_url: str) -> None:
    mw = stepwell.EncryptionMiddleware("inv-secret", decrypt_only=True)
    seen: list[Any] = []
    async with invoking_app(mw, seen).embedded(sqlite_url, poll_interval=0.02) as engine:
        [event_id] = await engine.send("inv/sync", {})
        [run] = await engine.wait_for_runs(event_id, timeout=30)
        assert run.status is stepwell.RunStatus.COMPLETED, run.error
        assert run.output == {"pan": "4242", "n": 3}
    with db_rows(sqlite_url) as conn:
        [(_, data)] = invoked_bodies(conn, "inngest/function.invoked")
    assert data["encrypted"] == {"card": "4242"}


class Card(BaseModel):
    last4: str
    holder: str


async def test_engine_invoke_returns_the_decrypted_typed_result(sqlite_url: str) -> None:
    mw = stepwell.EncryptionMiddleware("out-secret")
    app = stepwell.App("enc-out")  # the middleware on the function alone

    @app.function("card", middleware=[mw])
    async def card(ctx: Context) -> Card:
        return await ctx.step.run(
            "look-up", lambda: Card(last4=ctx.event.data["encrypted"]["pan"][-4:], holder="Ann")
        )

    @app.function("untyped", middleware=[mw])
    async def untyped(ctx: Context):  # type: ignore[no-untyped-def]  # no hint: JSON as is
        return {"echo": ctx.event.data["encrypted"]}

    async with app.embedded(sqlite_url, poll_interval=0.02) as engine:
        sealed = {"encrypted": mw.encrypt({"pan": "4000001234"})}
        result = await engine.invoke(card, sealed, timeout=30)
        assert result == Card(last4="1234", holder="Ann")
        assert type(result) is Card
        assert await engine.invoke(untyped, {"encrypted": "x"}, timeout=30) == {"echo": "x"}
    with db_rows(sqlite_url) as conn:
        outputs = [
            json.loads(raw)
            for (raw,) in conn.execute("SELECT output FROM runs ORDER BY created_at").fetchall()
        ]
    # Stored sealed, though the callers got plain values.
    assert all(is_encrypted(output) for output in outputs)
    assert [mw.decrypt(output) for output in outputs] == [
        {"last4": "1234", "holder": "Ann"},
        {"echo": "x"},
    ]
