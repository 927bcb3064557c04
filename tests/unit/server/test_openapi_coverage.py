"""``/openapi.json`` describes every route of the server's API: a route added without its
operation fails here (the dashboard's pages and mounted apps are not part of the API)."""

from __future__ import annotations

from starlette.routing import Route

from stepwell.server.app import create_app
from stepwell.server.config import ServerConfig
from stepwell.server.openapi import OPERATIONS, PUBLIC
from stepwell.server.runtime import ServerRuntime


def _api_operations() -> set[tuple[str, str]]:
    runtime = ServerRuntime(ServerConfig(dev=True, database="sqlite://:memory:", discovery=False))
    served = create_app(runtime)
    found: set[tuple[str, str]] = set()
    for route in served.routes:
        if not isinstance(route, Route):
            continue
        for method in route.methods or {"GET"}:
            if method != "HEAD":
                found.add((method, route.path))
    return found


def test_every_route_of_the_api_is_in_the_document() -> None:
    routes = _api_operations()
    assert len(routes) >= 40  # the walk found the router
    assert sorted(routes - set(OPERATIONS)) == []


def test_the_document_names_no_route_that_does_not_exist() -> None:
    assert sorted(set(OPERATIONS) - _api_operations()) == []
    assert set(PUBLIC) <= set(OPERATIONS)
