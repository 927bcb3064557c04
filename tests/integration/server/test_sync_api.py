"""App sync over HTTP (protocol.md §3.5, §6.3, §8): /fn/register, /dev, /health, pings."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stepwell.protocol.signing import hashed_key
from tests.integration.server.conftest import shop_functions
from tests.integration.server.harness import FakeSdk, Server, running_sdk, running_server

SIGNING_KEY = "signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f"


def py_payload(app: str = "myapp", url: str = "http://127.0.0.1:9/api/inngest") -> dict[str, Any]:
    """What the Python SDK posts (§3.3): ``appname``, ``deploy_type``."""
    return {
        "appname": app,
        "deploy_type": "ping",
        "framework": "flask",
        "sdk": "py:v0.5.19",
        "url": url,
        "v": "0.1",
        "capabilities": {"connect": "v1", "in_band_sync": "v1", "trust_probe": "v1"},
        "functions": [function(app, "first", url), function(app, "second", url)],
    }


def ts_payload(app: str = "tsapp", url: str = "http://127.0.0.1:9/api/inngest") -> dict[str, Any]:
    """What the TypeScript SDK posts (§3.3): ``appName``, ``deployType``, extra keys."""
    return {
        "url": url,
        "deployType": "ping",
        "framework": "nodejs",
        "appName": app,
        "deployId": "d-1",
        "functions": [function(app, "steps", url)],
        "sdk": "js:v4.24.0",
        "v": "0.1",
        "capabilities": {"trust_probe": "v1", "connect": "v1"},
        "featureObservations": {"anything": True},
    }


def function(app: str, local: str, url: str) -> dict[str, Any]:
    slug = f"{app}-{local}"
    return {
        "id": slug,
        "name": local.title(),
        "triggers": [{"event": f"{app}/{local}"}, {"cron": "0 * * * *"}],
        "steps": {
            "step": {
                "id": "step",
                "name": "step",
                "retries": {"attempts": 2},
                "runtime": {"type": "http", "url": f"{url}?fnId={slug}&stepId=step"},
            }
        },
    }


async def dev_functions(server: Server) -> dict[str, dict[str, Any]]:
    response = await server.client.get("/dev")
    assert response.status_code == 200
    return {fn["slug"]: fn for fn in response.json()["functions"]}


async def test_python_style_registration_is_accepted_and_listed(server: Server) -> None:
    response = await server.client.post("/fn/register", json=py_payload())
    assert response.status_code == 200
    body = response.json()
    assert (body["ok"], body["modified"]) == (True, True)
    assert body["app_id"]
    assert body["sync_id"]
    functions = await dev_functions(server)
    assert sorted(functions) == ["myapp-first", "myapp-second"]
    first = functions["myapp-first"]
    assert first["name"] == "First"
    assert first["triggers"] == [{"event": "myapp/first"}, {"cron": "0 * * * *"}]
    [step] = first["steps"]
    assert step["uri"] == "http://127.0.0.1:9/api/inngest?fnId=myapp-first&stepId=step"
    assert step["retries"] == {"attempts": 2}


async def test_typescript_style_registration_is_accepted(server: Server) -> None:
    response = await server.client.post("/fn/register", json=ts_payload())
    assert response.status_code == 200
    assert response.json()["modified"] is True
    assert list(await dev_functions(server)) == ["tsapp-steps"]


async def test_an_identical_resync_is_not_a_modification(server: Server) -> None:
    first = (await server.client.post("/fn/register", json=py_payload())).json()
    again = (await server.client.post("/fn/register", json=py_payload())).json()
    assert (again["ok"], again["modified"]) == (True, False)
    assert again["app_id"] == first["app_id"]
    assert again["sync_id"] != first["sync_id"]


async def test_functions_missing_from_a_resync_are_removed(server: Server) -> None:
    await server.client.post("/fn/register", json=py_payload())
    await server.client.post("/fn/register", json=ts_payload())
    smaller = py_payload()
    smaller["functions"] = smaller["functions"][1:]
    response = await server.client.post("/fn/register", json=smaller)
    assert response.json()["modified"] is True
    assert sorted(await dev_functions(server)) == ["myapp-second", "tsapp-steps"]
    refused = await server.client.post("/e/key", json={"name": "myapp/first"})
    [event_id] = refused.json()["ids"]
    runs = await server.client.get(f"/v1/events/{event_id}/runs")
    assert runs.json()["data"] == []


def _broken(change: str) -> dict[str, Any]:
    payload = py_payload()
    fn = payload["functions"][0]
    if change == "no app name":
        del payload["appname"]
    elif change == "no url":
        del fn["steps"]["step"]["runtime"]["url"]
    elif change == "bad expression":
        fn["triggers"][0]["expression"] = "event.data.x >"
    elif change == "bad cron":
        fn["triggers"][1]["cron"] = "every day"
    elif change == "bad retries":
        fn["steps"]["step"]["retries"]["attempts"] = "two"
    elif change == "trigger with both":
        fn["triggers"][0]["cron"] = "* * * * *"
    elif change == "duplicate ids":
        payload["functions"].append(copy.deepcopy(fn))
    return payload


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("no app name", "appName: "),
        ("no url", "functions[0] (myapp-first).steps.step.runtime.url: "),
        ("bad expression", "functions[0] (myapp-first).triggers[0].expression: "),
        ("bad cron", "functions[0] (myapp-first).triggers[1]: "),
        ("bad retries", "functions[0] (myapp-first).steps.step.retries.attempts: "),
        ("trigger with both", "functions[0] (myapp-first).triggers[0]: "),
        ("duplicate ids", "functions: duplicate function id(s) ['myapp-first']"),
    ],
)
async def test_invalid_registrations_are_refused_naming_the_field(
    server: Server, change: str, field: str
) -> None:
    response = await server.client.post("/fn/register", json=_broken(change))
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert body["error"].startswith(field), body["error"]
    assert body["data"] is None
    assert await dev_functions(server) == {}


async def test_unparseable_registration_json_is_refused(server: Server) -> None:
    response = await server.client.post("/fn/register", content=b"{nope")
    assert response.status_code == 400
    assert response.json()["error"].startswith("Invalid request: ")


async def test_a_server_kind_mismatch_is_refused(server: Server) -> None:
    response = await server.client.post(
        "/fn/register",
        json=py_payload(),
        headers={"X-Inngest-Expected-Server-Kind": "cloud"},
    )
    assert response.status_code == 400
    assert response.json() == {"error": "Expected server kind dev, got cloud", "status": 400}
    assert await dev_functions(server) == {}
    same = await server.client.post(
        "/fn/register", json=py_payload(), headers={"X-Inngest-Expected-Server-Kind": "dev"}
    )
    assert same.status_code == 200


async def test_start_mode_requires_a_bearer_signing_key(db_url: str) -> None:
    async with running_server(
        db_url, dev=False, signing_key=SIGNING_KEY, event_keys=["k"]
    ) as server:
        register = "/fn/register"
        kind = {"X-Inngest-Expected-Server-Kind": "cloud"}
        for headers in (
            {},
            {"Authorization": "Bearer undefined"},
            {"Authorization": "Bearer " + "0" * 64},
        ):
            refused = await server.client.post(register, json=py_payload(), headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"].startswith("Authentication failed: "), refused.text
        py_token = hashed_key(SIGNING_KEY)  # PY: the hash alone
        ts_token = f"signkey-test-{py_token}"  # TS: the hash with the key's prefix
        accepted = await server.client.post(
            register, json=py_payload(), headers={"Authorization": f"Bearer {py_token}", **kind}
        )
        assert accepted.status_code == 200, accepted.text
        again = await server.client.post(
            register, json=ts_payload(), headers={"Authorization": f"Bearer {ts_token}", **kind}
        )
        assert again.status_code == 200, again.text
        assert (await server.client.get("/dev")).status_code == 401  # the guard answers first
        token = {"Authorization": f"Bearer {py_token}"}
        assert (await server.client.get("/dev", headers=token)).status_code == 404
        mismatch = await server.client.post(
            register,
            json=ts_payload(),
            headers={
                "Authorization": f"Bearer {ts_token}",
                "X-Inngest-Expected-Server-Kind": "dev",
            },
        )
        assert mismatch.json()["error"] == "Expected server kind cloud, got dev"


async def test_health_and_dev_info(server: Server) -> None:
    health = await server.client.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": 200, "message": "OK"})
    assert health.headers["x-inngest-server-kind"] == "dev"
    dev = (await server.client.get("/dev")).json()
    assert dev["functions"] == []
    assert dev["startOpts"]["noDiscovery"] is True


async def test_a_pinged_app_registers_itself(server: Server) -> None:
    async with running_sdk(FakeSdk("shop", shop_functions()), server.url) as sdk:
        error = await server.runtime.syncer.ping(sdk.url)
        assert error is None
        assert sdk.sync_replies[-1]["modified"] is True
        functions = await dev_functions(server)
        assert sorted(functions) == [
            f"shop-{fn.local_id}" for fn in sorted(shop_functions(), key=lambda fn: fn.local_id)
        ]
        handlers = (await server.client.get("/dev")).json()["handlers"]
        assert handlers == [{"url": sdk.url, "app": "shop", "error": None}]


async def test_remove_by_url(server: Server) -> None:
    await server.client.post("/fn/register", json=py_payload())
    url = "http://127.0.0.1:9/api/inngest"
    removed = await server.client.delete("/fn/remove", params={"url": url})
    assert removed.json() == {"ok": True, "removed": ["myapp"]}
    assert await dev_functions(server) == {}
    again = await server.client.delete("/fn/remove", params={"url": url})
    assert again.status_code == 404
