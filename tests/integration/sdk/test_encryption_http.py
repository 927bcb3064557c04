"""EncryptionMiddleware over HTTP: our SDK app served on loopback, synced to our server running as
a process (dev mode, a SQLite file). ``step.invoke`` payloads and results and the function's
output are stored sealed (read from the server's database); the functions and
``Client.invoke`` see them plain. ``step.fetch`` is made by the server there, which has no key:
its response is stored plain, as Inngest's server stores it, and read back the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

import stepwell
from stepwell import Context
from stepwell.sdk.encryption import is_encrypted
from tests.integration.sdk.test_encryption_payloads import db_rows, memo_row
from tests.integration.sdk.test_step_tools_embedded import StandIn, stand_in
from tests.integration.sdk.test_step_tools_http import _run, _send, served_stack

__all__ = ["stand_in"]


class Pan(BaseModel):
    last4: str
    n: int


def http_app(base: str, mw: stepwell.EncryptionMiddleware, seen: list[Any]) -> stepwell.App:
    app = stepwell.App("enc-http", middleware=[mw])

    @app.function("child")
    async def child(ctx: Context) -> Pan:
        data = {k: v for k, v in ctx.event.data.items() if k != "_inngest"}
        seen.append(("child", data))
        return Pan(last4=data["encrypted"]["card"][-4:], n=data["plain"])

    @app.function("parent", trigger=stepwell.on_event("http/enc"))
    async def parent(ctx: Context) -> Any:
        got = await ctx.step.invoke(
            "inv", function=child, data={"encrypted": {"card": "4000004242"}, "plain": 1}
        )
        fetched = await ctx.step.fetch("get", f"{base}/echo")
        seen.append(("parent", got, fetched.status))
        return got

    return app


async def test_invoke_payloads_and_results_are_sealed_over_http(
    tmp_path: Path, stand_in: tuple[StandIn, str]
) -> None:
    _, base = stand_in
    mw = stepwell.EncryptionMiddleware("http-secret")
    seen: list[Any] = []
    app = http_app(base, mw, seen)
    async with (
        served_stack(tmp_path, app) as server,
        httpx.AsyncClient(timeout=30) as client,
    ):
        run = await _run(client, server, await _send(client, server, "http/enc", {}))
        assert run["status"] == "Completed", run
        assert mw.decrypt(run["output"]) == {"last4": "4242", "n": 1}
        # Client.invoke decodes the sealed output as the function's declared type.
        child = app.functions["child"]
        called = stepwell.Client(base_url=server, is_dev=True)
        result = await called.invoke(child, {"encrypted": {"card": "1111"}, "plain": 2}, timeout=30)
        assert result == Pan(last4="1111", n=2)
        assert type(result) is Pan
    assert seen[:2] == [
        ("child", {"encrypted": {"card": "4000004242"}, "plain": 1}),
        ("parent", {"last4": "4242", "n": 1}, 201),
    ]
    with db_rows(f"sqlite:///{tmp_path / 'server.db'}") as conn:
        [(raw_event,)] = conn.execute(
            "SELECT body FROM events WHERE name = 'inngest/function.invoked' "
            'AND body LIKE \'%"source_fn_id":"enc-http-parent"%\''
        ).fetchall()
        raw_result, result_memo = memo_row(conn, run["run_id"], "inv")
        _, fetched = memo_row(conn, run["run_id"], "get")
    assert "4000004242" not in raw_event
    sent = json.loads(raw_event)["data"]
    assert sent["plain"] == 1
    assert mw.decrypt(sent["encrypted"]) == {"card": "4000004242"}
    assert "4242" not in raw_result
    assert is_encrypted(result_memo)
    assert mw.decrypt(result_memo) == {"last4": "4242", "n": 1}
    assert not is_encrypted(fetched)  # the server made the request: no key to seal it with
    assert fetched["status_code"] == 201
