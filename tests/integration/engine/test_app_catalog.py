"""Synced apps: persisted, and seen by every process that shares the database."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from stepwell.engine.apps import AppCatalog
from stepwell.engine.registry import Registry
from stepwell.ports.clock import SystemClock
from stepwell.ports.records import AppRecord
from stepwell.protocol.registration import RegistrationError
from stepwell.store import open_store


def _payload(functions: list[str], cron: str | None = None) -> dict[str, Any]:
    return {
        "appname": "shop",
        "url": "http://127.0.0.1:9/api/inngest",
        "functions": [
            {
                "id": f"shop-{name}",
                "name": name,
                "triggers": [{"event": f"shop/{name}"}] + ([{"cron": cron}] if cron else []),
                "steps": {
                    "step": {
                        "id": "step",
                        "name": "step",
                        "runtime": {
                            "type": "http",
                            "url": f"http://127.0.0.1:9/api/inngest?fnId=shop-{name}",
                        },
                    }
                },
            }
            for name in functions
        ],
    }


async def test_other_catalogs_on_the_same_database_pick_up_syncs_and_removals(
    db_url: str,
) -> None:
    store = open_store(db_url)
    await store.open()
    try:
        changes: list[str] = []

        async def changed() -> None:
            changes.append("b")

        a = AppCatalog(Registry(), store, SystemClock())
        registry_b = Registry()
        b = AppCatalog(registry_b, store, SystemClock(), on_change=changed)
        first = await a.sync(_payload(["pay", "ship"]))
        assert first.modified
        assert await b.refresh() is True
        assert sorted(s.slug for s in registry_b) == ["shop-pay", "shop-ship"]
        assert await b.refresh() is False  # nothing new
        await a.sync(_payload(["pay"]))  # ship removed by a re-sync elsewhere
        assert await b.refresh() is True
        assert [s.slug for s in registry_b] == ["shop-pay"]
        await a.remove_by_url("http://127.0.0.1:9/api/inngest")
        assert await b.refresh() is True
        assert list(registry_b) == []
        assert changes == ["b", "b", "b"]
    finally:
        await store.close()


async def test_invalid_cron_in_a_registration_names_the_field(db_url: str) -> None:
    store = open_store(db_url)
    await store.open()
    try:
        catalog = AppCatalog(Registry(), store, SystemClock())
        with pytest.raises(RegistrationError, match=r"functions\[0\] \(shop-pay\)\.triggers\[1\]"):
            await catalog.sync(_payload(["pay"], cron="61 * * * *"))
    finally:
        await store.close()


async def test_a_refresh_that_read_the_list_before_a_local_sync_does_not_undo_it(
    db_url: str,
) -> None:
    store = open_store(db_url)
    await store.open()
    try:
        registry = Registry()
        catalog = AppCatalog(registry, store, SystemClock())
        listing = store.list_apps
        read, release = asyncio.Event(), asyncio.Event()

        async def slow_listing() -> list[AppRecord]:
            apps = await listing()  # read before the sync below lands
            read.set()
            await release.wait()
            return apps

        store.list_apps = slow_listing  # type: ignore[method-assign]
        refresh = asyncio.create_task(catalog.refresh())
        await asyncio.wait_for(read.wait(), timeout=10)
        store.list_apps = listing  # type: ignore[method-assign]
        await catalog.sync(_payload(["pay"]))
        release.set()
        await asyncio.wait_for(refresh, timeout=10)
        # The stale list (without "shop") must not remove what was just synced.
        assert [s.slug for s in registry] == ["shop-pay"]
        assert await catalog.refresh() is False
        assert [s.slug for s in registry] == ["shop-pay"]
    finally:
        await store.close()


async def test_two_processes_syncing_one_new_app_at_once_agree_on_its_id(pg_url: str) -> None:
    """Neither has seen the app: each makes its id, and whichever write lands last, the id
    stored is the one both hold (it was random once, so the loser served another id)."""
    stores = [open_store(pg_url), open_store(pg_url)]
    for store in stores:
        await store.open()
    try:
        a, b = (AppCatalog(Registry(), store, SystemClock()) for store in stores)
        first, second = await asyncio.gather(a.sync(_payload(["pay"])), b.sync(_payload(["pay"])))
        assert first.app_uuid == second.app_uuid
        [stored] = await stores[0].list_apps()
        assert stored.app_uuid == first.app_uuid
    finally:
        for store in stores:
            await store.close()
