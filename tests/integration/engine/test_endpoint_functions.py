"""Durable endpoints' functions are stored with the runs: a process that did not see the
endpoint's request (a restart, another server on the database) registers it at start, or finds
it when one of its runs is called back. On every adapter."""

from __future__ import annotations

from stepwell.core.ids import new_ulid
from stepwell.drivers.inprocess import InProcessDriver
from stepwell.engine.engine import Engine
from stepwell.engine.registry import FunctionSpec, Registry
from stepwell.protocol.ops import Op
from stepwell.store import open_store

ORIGIN = "http://127.0.0.1:9"
SLUG = "GET /ep/sleepy"


def _engine(url: str, registry: Registry | None = None) -> Engine:
    # Executes nothing: these tests look at what is registered, and call no endpoint.
    return Engine(
        store=open_store(url),
        registry=registry or Registry(),
        driver=InProcessDriver({}),
        poll_interval=0.05,
        executes=False,
    )


def _event(path: str = "/ep/sleepy") -> dict[str, object]:
    return {
        "name": "inngest/http.request",
        "data": {"domain": ORIGIN, "path": path, "method": "GET"},
    }


SLEEP = Op.from_wire({"op": "Sleep", "id": "nap-hash", "name": "1s", "displayName": "nap"})


async def test_an_endpoint_is_registered_again_by_the_next_process(db_url: str) -> None:
    run_id = new_ulid()
    async with _engine(db_url) as first:
        started = await first.lifecycle.endpoints.start(run_id, _event(), [SLEEP], retries=2)
        assert started.asynchronous
        # Served again, differently: the stored endpoint is the last one served.
        again = await first.lifecycle.endpoints.start(new_ulid(), _event(), [SLEEP], retries=5)
        assert again.spec is started.spec
        [stored] = await first.store.list_endpoints()
    assert (stored.slug, stored.url, stored.retries) == (SLUG, f"{ORIGIN}/ep/sleepy", 5)

    async with _engine(db_url) as restarted:
        spec = restarted.registry.get(SLUG)
        assert spec is not None
        assert (spec.app_id, spec.url, spec.retries) == (ORIGIN, f"{ORIGIN}/ep/sleepy", 5)
        assert spec.config == {"durable_endpoint": {"method": "GET", "path": "/ep/sleepy"}}
        # Its runs take steps in the new process.
        recorded = await restarted.lifecycle.endpoints.record(run_id, [])
        assert recorded.spec is spec


async def test_a_process_started_before_the_endpoint_finds_it_when_its_run_needs_it(
    pg_url: str,
) -> None:
    # Two processes on one database: PostgreSQL (a SQLite file has one owner).
    async with _engine(pg_url) as early, _engine(pg_url) as serving:
        run_id = new_ulid()
        await serving.lifecycle.endpoints.start(run_id, _event(), [SLEEP], retries=1)
        assert early.registry.get(SLUG) is None
        found = await early.lifecycle.endpoints.find(SLUG)
        assert found is not None
        assert found.retries == 1
        assert early.registry.get(SLUG) is found
        assert await early.lifecycle.endpoints.find("GET /nothing") is None
        recorded = await early.lifecycle.endpoints.record(run_id, [])
        assert recorded.spec is found
        # Served again through the other process: this one calls it as it is now.
        await serving.lifecycle.endpoints.start(new_ulid(), _event(), [SLEEP], retries=4)
        again = await early.lifecycle.endpoints.find(SLUG)
        assert again is found
        assert found.retries == 4


async def test_a_synced_function_keeps_its_slug_over_a_stored_endpoint(db_url: str) -> None:
    async with _engine(db_url) as first:
        await first.lifecycle.endpoints.start(new_ulid(), _event(), [SLEEP], retries=0)
    synced = FunctionSpec(app_id="shop", local_id="x", name="x", full_slug=SLUG)
    registry = Registry()
    registry.add(synced)
    async with _engine(db_url, registry) as restarted:
        assert restarted.registry.get(SLUG) is synced
        assert await restarted.lifecycle.endpoints.find(SLUG) is synced
