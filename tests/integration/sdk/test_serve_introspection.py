"""GET on a served app (protocol.md §4): introspection, dev and cloud mode, over real HTTP."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs

import fastapi
import httpx
from starlette.routing import Route

import stepwell
from stepwell import Context
from stepwell.protocol import signing
from tests.integration.sdk.serving import call_body, client_for, serving

KEY = "signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f"
FALLBACK = "signkey-test-00ff"


def _app() -> stepwell.App:
    app = stepwell.App("myapp")

    @app.function("one", trigger=stepwell.on_event("a/one"))
    async def one(ctx: Context) -> None:
        return None

    @app.function("two", trigger=stepwell.on_event("a/two"))
    def two(ctx: stepwell.SyncContext) -> None:
        return None

    return app


async def test_dev_mode_answers_the_public_introspection_with_sdk_headers() -> None:
    async with client_for(stepwell.serve(_app(), is_dev=True)) as (url, client):
        response = await client.get(f"{url}/api/inngest")
    assert response.status_code == 200
    assert response.json() == {
        "schema_version": "2024-05-24",
        "function_count": 2,
        "has_event_key": False,
        "has_signing_key": False,
        "has_signing_key_fallback": False,
        "mode": "dev",
    }
    assert response.headers["x-inngest-sdk"] == "stepwell-py:v0.1.0"
    assert response.headers["x-inngest-req-version"] == "2"
    assert response.headers["x-inngest-framework"] == "starlette"
    assert response.headers["x-inngest-sdk-handled"] == "true"
    assert response.headers["x-inngest-expected-server-kind"] == "dev"
    assert response.headers["content-type"] == "application/json"
    assert "x-inngest-signature" not in response.headers


async def test_a_server_of_the_other_kind_is_refused_with_403() -> None:
    async with client_for(stepwell.serve(_app(), is_dev=True)) as (url, client):
        response = await client.get(
            f"{url}/api/inngest", headers={"X-Inngest-Server-Kind": "cloud"}
        )
    assert response.status_code == 403
    assert response.json() == {}


async def test_cloud_mode_refuses_an_unsigned_get_without_looking_like_an_sdk() -> None:
    async with client_for(stepwell.serve(_app(), is_dev=False, signing_key=KEY)) as (url, client):
        unsigned = await client.get(f"{url}/api/inngest")
        forged = await client.get(
            f"{url}/api/inngest",
            headers={"X-Inngest-Signature": signing.signature(b"", "signkey-test-0bad")},
        )
    for response in (unsigned, forged):
        assert response.status_code == 401
        assert response.json() == {"message": "Unauthorized"}
        # Without X-Inngest-SDK a server treats it as a transport failure (§5.2).
        assert "x-inngest-sdk" not in response.headers
        assert response.headers["x-inngest-sdk-handled"] == "true"


async def test_cloud_mode_answers_a_signed_get_with_the_authenticated_introspection() -> None:
    served = stepwell.serve(
        _app(),
        is_dev=False,
        signing_key=KEY,
        signing_key_fallback=FALLBACK,
        event_key="evkey",
        base_url="http://127.0.0.1:9999",
    )
    async with serving(served) as url, httpx.AsyncClient() as client:
        response = await client.get(
            f"{url}/api/inngest", headers={"X-Inngest-Signature": signing.signature(b"", KEY)}
        )
    assert response.status_code == 200
    body = response.json()
    plain = KEY.removeprefix("signkey-test-")
    assert body == {
        "schema_version": "2024-05-24",
        "function_count": 2,
        "has_event_key": True,
        "has_signing_key": True,
        "has_signing_key_fallback": True,
        "mode": "cloud",
        "api_origin": "http://127.0.0.1:9999",
        "app_id": "myapp",
        "authentication_succeeded": True,
        "capabilities": {"in_band_sync": "v1", "trust_probe": "v1"},
        "env": None,
        "event_api_origin": "http://127.0.0.1:9999",
        "event_key_hash": hashlib.sha256(b"evkey").hexdigest(),
        "framework": "starlette",
        "sdk_language": "py",
        "sdk_version": "0.1.0",
        "serve_origin": None,
        "serve_path": None,
        "signing_key_fallback_hash": hashlib.sha256(bytes.fromhex("00ff")).hexdigest(),
        "signing_key_hash": hashlib.sha256(bytes.fromhex(plain)).hexdigest(),
    }
    # The response is signed with the key the request proved, over its raw bytes.
    fields = parse_qs(response.headers["x-inngest-signature"])
    stamp = int(fields["t"][0])
    assert response.headers["x-inngest-signature"] == signing.signature(
        response.content, KEY, stamp
    )


async def test_mounted_in_fastapi_at_the_exact_path_and_as_a_mount() -> None:
    api = fastapi.FastAPI()
    api.router.routes.append(Route("/api/inngest", stepwell.serve(_app(), is_dev=True)))
    api.mount("/x/inngest", stepwell.serve(_app(), is_dev=True))
    async with serving(api) as url, httpx.AsyncClient() as client:
        exact = await client.get(f"{url}/api/inngest")
        mounted = await client.get(f"{url}/x/inngest/")
    for response in (exact, mounted):
        assert response.status_code == 200
        assert response.json()["function_count"] == 2
        assert response.headers["x-inngest-sdk"] == "stepwell-py:v0.1.0"


async def test_unsupported_methods_are_answered_by_the_sdk() -> None:
    async with client_for(stepwell.serve(_app(), is_dev=True)) as (url, client):
        response = await client.delete(f"{url}/api/inngest")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["x-inngest-sdk"] == "stepwell-py:v0.1.0"


async def test_functions_registered_after_serve_are_served_too() -> None:
    app = _app()
    served = stepwell.serve(app, is_dev=True)

    @app.function("late", trigger=stepwell.on_event("a/late"))
    async def late(ctx: Context) -> str:
        return "late"

    async with client_for(served) as (url, client):
        introspection = await client.get(f"{url}/api/inngest")
        called = await client.post(
            f"{url}/api/inngest?fnId=myapp-late&stepId=step", json=call_body()
        )
    assert introspection.json()["function_count"] == 3
    assert called.status_code == 200
    assert called.json() == "late"
