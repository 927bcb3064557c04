"""Removing an app: ``DELETE /fn/remove`` and GraphQL ``deleteApp``/``deleteAppByName`` do one
thing, in one place: the app's functions go, and its URL is no longer kept in sync, so the
next poll does not ping it and the app does not sync itself back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.integration.server.conftest import shop_functions
from tests.integration.server.harness import FakeSdk, Server, running_sdk

Remove = Callable[[Server, FakeSdk], Awaitable[None]]


async def by_url(server: Server, sdk: FakeSdk) -> None:
    response = await server.client.delete("/fn/remove", params={"url": sdk.url})
    assert response.json() == {"ok": True, "removed": ["shop"]}


async def by_id(server: Server, sdk: FakeSdk) -> None:
    [app] = (await server.gql("{ apps { id } }"))["apps"]
    deleted = await server.gql("mutation($id: String!) { deleteApp(id: $id) }", {"id": app["id"]})
    assert deleted == {"deleteApp": app["id"]}


async def by_name(server: Server, sdk: FakeSdk) -> None:
    deleted = await server.gql('mutation { deleteAppByName(name: "shop") }')
    assert deleted == {"deleteAppByName": True}


@pytest.mark.parametrize("remove", [by_url, by_id, by_name], ids=lambda f: f.__name__)
async def test_a_removed_app_is_not_synced_again_from_its_url(
    server: Server, remove: Remove
) -> None:
    syncer = server.runtime.syncer
    # The test takes the poller's place: its first pass, racing the sync below, would ping the
    # app a second time, and a ping already in flight cannot be called back.
    await syncer.stop()
    async with running_sdk(FakeSdk("shop", shop_functions()), server.url) as sdk:
        create = "mutation($url: String!) { createApp(input: {url: $url}) { connected } }"
        assert await server.gql(create, {"url": sdk.url}) == {"createApp": {"connected": True}}
        assert sdk.url in syncer.urls()

        await remove(server, sdk)
        assert sdk.url not in syncer.urls()
        pings = len(sdk.sync_replies)
        await syncer.sync_all()  # what the next poll does
        assert len(sdk.sync_replies) == pings
        assert await server.gql("{ apps { id } functions { slug } }") == {
            "apps": [],
            "functions": [],
        }

        again = await server.client.delete("/fn/remove", params={"url": sdk.url})
        assert again.status_code == 404
