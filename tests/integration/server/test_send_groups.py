"""Concurrent ``POST /e/{key}`` requests share commits (``server.send_groups``): each is still
answered on its own, with its own ids, its own refusal, and its own failure."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

import httpx
import psycopg

from tests.integration.server.harness import Server


async def _send_all(server: Server, bodies: list[object]) -> list[httpx.Response]:
    # Separate connections, sent at once: their handlers run in the same turns of the loop.
    async with httpx.AsyncClient(
        base_url=server.client.base_url,
        timeout=10.0,
        limits=httpx.Limits(max_connections=len(bodies)),
    ) as client:
        return list(await asyncio.gather(*(client.post("/e/key", json=b) for b in bodies)))


async def test_concurrent_sends_each_get_their_own_ids(server: Server) -> None:
    bodies: list[object] = [
        {"name": "group/one", "data": {"i": i}} if i % 3 else [{"name": "group/many"}] * 3
        for i in range(30)
    ]
    answers = await _send_all(server, bodies)
    ids: list[str] = []
    for body, answer in zip(bodies, answers, strict=True):
        assert answer.status_code == 200, answer.text
        got = answer.json()["ids"]
        assert len(got) == (3 if isinstance(body, list) else 1)
        ids += got
    assert len(set(ids)) == len(ids)
    stored = await server.runtime.engine.history.get_events(ids)
    assert [e.internal_id for e in stored] == ids
    one = {e.internal_id: e.event.data for e in stored if e.event.name == "group/one"}
    for body, answer in zip(bodies, answers, strict=True):
        if isinstance(body, dict):
            assert one[answer.json()["ids"][0]] == body["data"]


async def test_a_refused_send_among_accepted_ones_stores_nothing(server: Server) -> None:
    bodies: list[object] = [{"name": "group/ok"}] * 10 + [[{"name": "group/ok"}, {"name": ""}]]
    answers = await _send_all(server, bodies)
    assert [a.status_code for a in answers] == [200] * 10 + [400]
    assert "event 1: name must be a non-empty string" in answers[-1].json()["error"]
    stored = await server.runtime.engine.history.list_events(name="group/ok", limit=100)
    assert len(stored) == 10


def _refuse_name_in_store(db_url: str, name: str) -> None:
    """A store that fails underneath the server for events of one name only."""
    if db_url.startswith("sqlite:"):
        with contextlib.closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as conn:
            conn.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.name = '{name}' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
            conn.commit()
        return
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'refused'; END $$"
        )
        conn.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH ROW "
            f"WHEN (NEW.name = '{name}') EXECUTE FUNCTION refuse()"
        )


async def test_a_send_the_store_fails_fails_alone(server: Server, db_url: str) -> None:
    _refuse_name_in_store(db_url, "group/doomed")
    bodies: list[object] = [*([{"name": "group/fine"}] * 10), {"name": "group/doomed"}]
    answers = await _send_all(server, bodies)
    assert [a.status_code for a in answers] == [200] * 10 + [500]
    stored = await server.runtime.engine.history.list_events(name="group/fine", limit=100)
    assert len(stored) == 10
    assert not await server.runtime.engine.history.list_events(name="group/doomed", limit=100)
