"""``stepwell runs|events|functions|apps|doctor`` against a real server and straight on its
database (SQLite read-only while the server owns it, and PostgreSQL), and the REST routes the
CLI stands on, on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.cli.harness import dev_server, stepwell, stepwell_json
from tests.waiting import eventually


def trace_now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture(params=["sqlite", "postgres"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, str]]:
    """(server URL, database URL) of ``stepwell dev`` serving cli_app."""
    if request.param == "sqlite":
        database: str = request.getfixturevalue("sqlite_url")
    else:
        database = request.getfixturevalue("pg_url")
    async with dev_server(database) as url:
        yield url, database


async def _ended_run(url: str, n: int) -> str:
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        sent = await client.post("/e/key", json={"name": "cli/order", "data": {"n": n}})
        [event_id] = sent.json()["ids"]

        found: list[str] = []

        async def ended() -> bool:
            runs = (await client.get(f"/v1/events/{event_id}/runs")).json()["data"]
            found[:] = [r["run_id"] for r in runs if r["status"] == "Completed"]
            return bool(found)

        await eventually(ended, timeout=30, what="the run completed")
        return found[0]


async def test_the_cli_on_a_server_and_on_its_database(served: tuple[str, str]) -> None:
    url, database = served
    run_id = await _ended_run(url, 1)
    for where in (["--url", url], ["--database", database]):
        listed = stepwell_json("runs", "list", "--function", "cliapp-order", *where)
        assert [r["id"] for r in listed["data"]] == [run_id], where
        assert listed["data"][0]["status"] == "Completed"
        shown = stepwell_json("runs", "show", run_id, *where)
        assert [s["name"] for s in shown["spans"]] == ["charge", "email"]
        assert shown["run"]["output"] == {"order": 1, "charged": True}
        code, table, err = stepwell("runs", "show", run_id, *where)
        assert code == 0, err
        assert "charge" in table
        assert "email" in table
        assert "Completed" in table
        assert "█" in table  # the timeline's bars
        functions = stepwell_json("functions", "list", *where)
        assert {f["slug"] for f in functions["data"]} == {"cliapp-order", "cliapp-slow"}
        code, apps, err = stepwell("apps", "list", *where)
        assert code == 0, err
        assert "cliapp" in apps
        assert stepwell_json("doctor", *where)["ok"] is True
        events = stepwell_json("events", "list", "--name", "cli/order", *where)
        assert [e["name"] for e in events["data"]] == ["cli/order"]
    # Filters: nothing failed; a bad status is refused before anything is asked.
    assert stepwell_json("runs", "list", "--status", "Failed", "--url", url)["data"] == []
    code, _, err = stepwell("runs", "list", "--status", "nope", "--url", url)
    assert code == 2
    assert "nope" in err
    code, _, err = stepwell("runs", "show", "01NOSUCHRUN", "--url", url)
    assert code == 1
    assert "01NOSUCHRUN" in err
    # Acting through the server: rerun, invoke and wait, pause and resume.
    rerun = stepwell_json("runs", "rerun", run_id, "--url", url)["run_id"]
    assert rerun != run_id
    invoked = stepwell_json(
        "functions",
        "invoke",
        "order",
        "--app",
        "cliapp",
        "--data",
        '{"n": 5}',
        "--wait",
        "30",
        "--url",
        url,
    )
    assert invoked["run"]["output"] == {"order": 5, "charged": True}
    assert stepwell_json("functions", "pause", "cliapp-order", "--url", url)["paused"] is True
    listed_fns = stepwell_json("functions", "list", "--database", database)["data"]
    assert {f["slug"]: f["paused"] for f in listed_fns}["cliapp-order"] is True
    stepwell_json("functions", "resume", "cliapp-order", "--url", url)


async def test_cancel_by_id_and_in_bulk_and_the_rest_routes(served: tuple[str, str]) -> None:
    url, _database = served
    async with httpx.AsyncClient(base_url=url, timeout=10.0) as client:
        for _ in range(3):
            await client.post("/e/key", json={"name": "cli/slow"})

        ids: list[str] = []

        async def sleeping() -> bool:
            page = (await client.get("/v2/runs", params={"function_id": "cliapp-slow"})).json()
            ids[:] = [r["id"] for r in page["data"] if r["status"] == "Running"]
            return len(ids) == 3

        await eventually(sleeping, timeout=30, what="three runs asleep")
        # Paging by cursor: one run a page, three pages, no repeats.
        seen, cursor = [], None
        while True:
            params = {
                "function_id": "cliapp-slow",
                "limit": "1",
                **({"cursor": cursor} if cursor else {}),
            }
            page = (await client.get("/v1/runs", params=params)).json()
            seen += [r["run_id"] for r in page["data"]]
            cursor = page["cursor"]
            if not page["has_more"]:
                break
        assert sorted(seen) == sorted(ids)
        bad = await client.get("/v1/runs", params={"cursor": "not-a-cursor"})
        assert bad.status_code == 400
        assert "cursor" in bad.json()["error"]
        jobs: list[dict[str, object]] = []

        async def asleep() -> bool:
            # The run sleeps for an hour: one job, due then.
            jobs[:] = (await client.get(f"/v1/runs/{ids[0]}/jobs")).json()["data"]
            return len(jobs) == 1 and str(jobs[0]["at"]) > trace_now()

        await eventually(asleep, timeout=30, what="the run asleep, its one job due later")
        trace = (await client.get(f"/v2/runs/{ids[0]}/trace")).json()["data"]
        assert [s["name"] for s in trace["spans"]][:1] == ["nap"]
        # One by id over the CLI, the others in bulk; the bulk one is kept, then forgotten.
        cancelled = stepwell_json("runs", "cancel", ids[0], "--url", url)["data"]
        assert cancelled[0]["cancelled"] is True
        bulk = stepwell_json("runs", "cancel", "--function", "cliapp-slow", "--url", url)
        assert sorted(bulk["cancelled_run_ids"]) == sorted(ids[1:])
        kept = (await client.get("/v1/cancellations")).json()["data"]
        assert [sorted(k["cancelled_run_ids"]) for k in kept] == [sorted(ids[1:])]
        gone = await client.delete(f"/v1/cancellations/{kept[0]['id']}")
        assert gone.status_code == 200
        assert (await client.get("/v1/cancellations")).json()["data"] == []
        assert (await client.delete(f"/v1/cancellations/{kept[0]['id']}")).status_code == 404
        statuses = (await client.get("/v2/runs", params={"status": "Cancelled"})).json()
        assert len(statuses["data"]) == 3
        refused = await client.post("/v2/apps/cliapp/functions/nope/invoke")
        assert refused.status_code == 404
        assert "nope" in refused.json()["error"]


async def test_actions_on_a_sqlite_file_another_process_owns_are_refused(
    sqlite_url: str,
) -> None:
    async with dev_server(sqlite_url) as url:
        run_id = await _ended_run(url, 2)
        code, _, err = stepwell("runs", "rerun", run_id, "--database", sqlite_url)
        assert code == 1
        assert "--url" in err
        # Reading it while it is owned works (read-only).
        assert stepwell_json("runs", "list", "--database", sqlite_url)["data"][0]["id"] == run_id
