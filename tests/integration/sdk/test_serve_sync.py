"""PUT on a served app (protocol.md §3): the app registers its functions with the server."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

import stepwell
from stepwell import Context
from stepwell.protocol import signing
from stepwell.sdk.serve import ServeConfigError
from tests.integration.sdk.serving import FakeInngest, client_for, serving

KEY = "signkey-prod-12345678"
KEY_HASH = "b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c"  # §6.3


def _app() -> stepwell.App:
    app = stepwell.App("myapp")

    @app.function(
        "steps",
        trigger=[stepwell.on_event("a/b", if_="event.data.x > 1"), stepwell.on_event("a/c")],
        retries=2,
        name="Steps",
    )
    async def steps(ctx: Context) -> None:
        return None

    @app.function("plain", trigger=stepwell.on_event("a/plain"))
    def plain(ctx: stepwell.SyncContext) -> None:
        return None

    return app


async def test_sync_posts_the_registration_and_answers_with_the_servers_reply(
    fake_api: tuple[FakeInngest, str],
) -> None:
    fake, api = fake_api
    async with client_for(stepwell.serve(_app(), is_dev=True, base_url=api)) as (url, client):
        response = await client.put(
            f"{url}/api/inngest?deployId=d-1",
            headers={"X-Inngest-Server-Kind": "dev"},
            json={"url": f"{url}/api/inngest"},
        )
    assert response.status_code == 200
    assert response.json() == {"ok": True, "modified": True, "app_id": "a"}
    assert response.headers["x-inngest-sync-kind"] == "out_of_band"
    assert response.headers["x-inngest-sdk"] == "stepwell-py:v0.1.0"

    [register] = fake.of("/fn/register")
    assert register.method == "POST"
    assert register.query == {"deployId": "d-1"}
    assert register.headers["x-inngest-sdk"] == "stepwell-py:v0.1.0"
    assert register.headers["x-inngest-framework"] == "starlette"
    assert register.headers["x-inngest-expected-server-kind"] == "dev"
    assert register.headers["content-type"] == "application/json"
    assert "authorization" not in register.headers  # dev mode, no key: PY sends none
    app_url = f"{url}/api/inngest"
    assert register.body == {
        "appname": "myapp",
        "capabilities": {"in_band_sync": "v1", "trust_probe": "v1"},
        "deploy_type": "ping",
        "framework": "starlette",
        "functions": [
            {
                "id": "myapp-steps",
                "name": "Steps",
                "steps": {
                    "step": {
                        "id": "step",
                        "name": "step",
                        "retries": {"attempts": 2},
                        "runtime": {
                            "type": "http",
                            "url": f"{app_url}?fnId=myapp-steps&stepId=step",
                        },
                    }
                },
                "triggers": [
                    {"event": "a/b", "expression": "event.data.x > 1"},
                    {"event": "a/c"},
                ],
            },
            {
                "id": "myapp-plain",
                "name": "plain",
                "steps": {
                    "step": {
                        "id": "step",
                        "name": "step",
                        "retries": {"attempts": 4},
                        "runtime": {
                            "type": "http",
                            "url": f"{app_url}?fnId=myapp-plain&stepId=step",
                        },
                    }
                },
                "triggers": [{"event": "a/plain"}],
            },
        ],
        "sdk": "py:v0.1.0",
        "url": app_url,
        "v": "0.1",
    }


async def test_a_sync_from_the_other_kind_of_server_is_rejected(
    fake_api: tuple[FakeInngest, str],
) -> None:
    fake, api = fake_api
    async with client_for(stepwell.serve(_app(), is_dev=True, base_url=api)) as (url, client):
        response = await client.put(
            f"{url}/api/inngest", headers={"X-Inngest-Server-Kind": "cloud"}
        )
    assert response.status_code == 400
    assert response.json() == {
        "code": "server_kind_mismatch",
        "message": "Sync rejected since it's from Cloud but expected Dev Server",
        "name": "Error",
    }
    assert fake.of("/fn/register") == []


async def test_a_refused_registration_is_passed_on_with_its_status(
    fake_api: tuple[FakeInngest, str],
) -> None:
    fake, api = fake_api
    fake.register_reply = (400, {"error": "At least one function is invalid", "status": 400})
    async with client_for(stepwell.serve(_app(), is_dev=True, base_url=api)) as (url, client):
        response = await client.put(f"{url}/api/inngest")
    assert response.status_code == 400
    assert response.json()["message"] == "At least one function is invalid"
    assert response.json()["code"] == "registration_failed"
    assert response.headers["x-inngest-sync-kind"] == "out_of_band"


async def test_an_unreachable_server_is_a_500_naming_the_url() -> None:
    async with client_for(stepwell.serve(_app(), is_dev=True, base_url="127.0.0.1:1")) as (
        url,
        client,
    ):
        response = await client.put(f"{url}/api/inngest")
    assert response.status_code == 500
    assert "http://127.0.0.1:1/fn/register" in response.json()["message"]
    assert response.headers["x-inngest-sdk"] == "stepwell-py:v0.1.0"


async def test_an_app_without_functions_refuses_to_sync(fake_api: tuple[FakeInngest, str]) -> None:
    fake, api = fake_api
    async with client_for(stepwell.serve(stepwell.App("empty"), is_dev=True, base_url=api)) as (
        url,
        client,
    ):
        response = await client.put(f"{url}/api/inngest")
    assert response.status_code == 500
    assert response.json()["code"] == "function_config_invalid"
    assert fake.of("/fn/register") == []


async def test_environment_picks_the_server_and_overrides_the_registered_url(
    fake_api: tuple[FakeInngest, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, api = fake_api
    monkeypatch.setenv("INNGEST_DEV", "1")
    monkeypatch.setenv("INNGEST_BASE_URL", "http://127.0.0.1:1")  # loses to the specific one
    monkeypatch.setenv("INNGEST_API_BASE_URL", api.removeprefix("http://"))
    monkeypatch.setenv("INNGEST_SERVE_ORIGIN", "app.internal:8000")
    monkeypatch.setenv("INNGEST_SERVE_PATH", "/hooks/inngest")
    async with serving(stepwell.serve(_app())) as url, httpx.AsyncClient() as client:
        response = await client.put(f"{url}/api/inngest")
    assert response.status_code == 200
    [register] = fake.of("/fn/register")
    # A bare origin gets https://, as in the Python SDK.
    assert register.body["url"] == "https://app.internal:8000/hooks/inngest"
    step_url = register.body["functions"][0]["steps"]["step"]["runtime"]["url"]
    assert step_url == "https://app.internal:8000/hooks/inngest?fnId=myapp-steps&stepId=step"


async def test_inngest_dev_may_carry_the_servers_url(
    fake_api: tuple[FakeInngest, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, api = fake_api
    monkeypatch.setenv("INNGEST_DEV", api)
    async with serving(stepwell.serve(_app())) as url, httpx.AsyncClient() as client:
        response = await client.put(f"{url}/api/inngest")
    assert response.status_code == 200
    assert len(fake.of("/fn/register")) == 1


async def test_cloud_sync_authenticates_with_the_hashed_key_then_the_fallback(
    fake_api: tuple[FakeInngest, str],
) -> None:
    fake, api = fake_api
    fallback = "signkey-prod-abcd"
    fake.refuse_keys = {KEY_HASH}
    served = stepwell.serve(
        _app(), is_dev=False, signing_key=KEY, signing_key_fallback=fallback, base_url=api
    )
    async with serving(served) as url, httpx.AsyncClient() as client:
        response = await client.put(f"{url}/api/inngest")
    assert response.status_code == 200
    first, second = fake.of("/fn/register")
    assert first.headers["authorization"] == f"Bearer {KEY_HASH}"
    assert second.headers["authorization"] == (
        f"Bearer {hashlib.sha256(bytes.fromhex('abcd')).hexdigest()}"
    )
    assert "x-inngest-expected-server-kind" not in first.headers  # the PUT named no kind


async def test_cloud_mode_can_refuse_unsigned_syncs(
    fake_api: tuple[FakeInngest, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, api = fake_api
    monkeypatch.setenv("INNGEST_ENABLE_UNAUTHED_SYNC", "false")
    served = stepwell.serve(_app(), is_dev=False, signing_key=KEY, base_url=api)
    async with serving(served) as url, httpx.AsyncClient() as client:
        unsigned = await client.put(f"{url}/api/inngest")
        signed = await client.put(
            f"{url}/api/inngest", headers={"X-Inngest-Signature": signing.signature(b"", KEY)}
        )
    assert unsigned.status_code == 401
    assert signed.status_code == 200
    assert len(fake.of("/fn/register")) == 1


async def test_cloud_in_band_sync_answers_with_the_functions(
    fake_api: tuple[FakeInngest, str],
) -> None:
    fake, api = fake_api
    served = stepwell.serve(_app(), is_dev=False, signing_key=KEY, base_url=api)
    body = json.dumps({"url": "https://example.com/api/inngest"}).encode()
    async with serving(served) as url, httpx.AsyncClient() as client:
        unsigned = await client.put(
            f"{url}/api/inngest", content=body, headers={"X-Inngest-Sync-Kind": "in_band"}
        )
        signed = await client.put(
            f"{url}/api/inngest",
            content=body,
            headers={
                "X-Inngest-Sync-Kind": "in_band",
                "X-Inngest-Signature": signing.signature(signing.canonical(body), KEY),
            },
        )
    assert unsigned.status_code == 401
    assert signed.status_code == 200
    assert signed.headers["x-inngest-sync-kind"] == "in_band"
    reply = signed.json()
    assert reply["app_id"] == "myapp"
    assert reply["url"] == "https://example.com/api/inngest"
    assert [f["id"] for f in reply["functions"]] == ["myapp-steps", "myapp-plain"]
    assert reply["functions"][0]["steps"]["step"]["runtime"]["url"] == (
        "https://example.com/api/inngest?fnId=myapp-steps&stepId=step"
    )
    assert reply["inspection"]["authentication_succeeded"] is True
    assert "env" not in reply  # nulls are dropped, as the Python SDK does
    assert fake.of("/fn/register") == []


def test_cloud_mode_without_a_signing_key_is_refused_up_front() -> None:
    with pytest.raises(ServeConfigError, match="signing key"):
        stepwell.serve(_app())


async def test_registration_matches_the_official_python_sdk(
    fake_api: tuple[FakeInngest, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same functions declared with inngest 0.5.19 register the same configs: triggers,
    retries, flow control, cancellation, and the ``-failure`` function of an on_failure."""
    import flask
    import inngest as official
    import inngest.flask

    fake, api = fake_api
    monkeypatch.setenv("INNGEST_DEV", "1")
    monkeypatch.setenv("INNGEST_BASE_URL", api)
    client = official.Inngest(app_id="myapp")
    minute, hour = timedelta(minutes=1), timedelta(hours=1)

    async def noop(ctx: official.Context) -> None:
        return None

    theirs_fns = [
        client.create_function(
            fn_id="steps",
            name="Steps",
            retries=2,
            trigger=[
                official.TriggerEvent(event="a/b", expression="event.data.x > 1"),
                official.TriggerCron(cron="TZ=Europe/Paris 0 * * * *"),
            ],
            concurrency=[official.Concurrency(limit=2, key="event.data.k", scope="fn")],
            throttle=official.Throttle(limit=1, period=timedelta(seconds=10), burst=1),
            rate_limit=official.RateLimit(limit=3, period=minute, key="event.data.u"),
            debounce=official.Debounce(
                period=timedelta(seconds=5), key="event.data.u", timeout=minute
            ),
            priority=official.Priority(run="event.data.p"),
            cancel=[
                official.Cancel(
                    event="a/cancel", if_exp="event.data.id == async.data.id", timeout=hour
                )
            ],
            idempotency="event.data.id",
            timeouts=official.Timeouts(start=timedelta(seconds=10), finish=timedelta(days=2)),
            on_failure=noop,
        )(noop),
        client.create_function(
            fn_id="batched",
            retries=4,  # PY leaves the default count out (the server assumes 4); we write it
            trigger=official.TriggerEvent(event="a/batch"),
            batch_events=official.Batch(
                max_size=10, timeout=timedelta(seconds=5), key="event.data.u"
            ),
            singleton=None,
        )(noop),
        client.create_function(
            fn_id="single",
            retries=0,
            trigger=official.TriggerEvent(event="a/single"),
            singleton=official.Singleton(mode="skip", key="event.data.u"),
        )(noop),
    ]
    flask_app = flask.Flask("official")
    inngest.flask.serve(flask_app, client, theirs_fns)
    # Flask's test client blocks: run it off the loop that serves the fake API.
    official_put = await asyncio.to_thread(
        lambda: flask_app.test_client().put("http://127.0.0.1:8000/api/inngest")
    )
    assert official_put.status_code == 200

    app = stepwell.App("myapp")

    async def ours_noop(ctx: Context) -> None:
        return None

    app.function(
        "steps",
        name="Steps",
        retries=2,
        trigger=[
            stepwell.on_event("a/b", if_="event.data.x > 1"),
            stepwell.on_cron("TZ=Europe/Paris 0 * * * *"),
        ],
        concurrency=[{"limit": 2, "key": "event.data.k"}],
        throttle={"limit": 1, "period": "10s", "burst": 1},
        rate_limit={"limit": 3, "period": "1m", "key": "event.data.u"},
        debounce={"period": "5s", "key": "event.data.u", "timeout": "60s"},
        priority={"run": "event.data.p"},
        cancel_on=[{"event": "a/cancel", "match": "data.id", "timeout": "1h"}],
        idempotency="event.data.id",
        timeouts={"start": "10s", "finish": "48h"},
        on_failure=ours_noop,
    )(ours_noop)
    app.function(
        "batched",
        trigger=stepwell.on_event("a/batch"),
        batch_events={"max_size": 10, "timeout": "5s", "key": "event.data.u"},
    )(ours_noop)
    app.function(
        "single",
        retries=0,
        trigger=stepwell.on_event("a/single"),
        singleton={"mode": "skip", "key": "event.data.u"},
    )(ours_noop)
    async with client_for(stepwell.serve(app)) as (url, http):
        ours_put = await http.put(f"{url}/api/inngest")
        introspection = (await http.get(f"{url}/api/inngest")).json()
    assert ours_put.status_code == 200
    assert introspection["function_count"] == 3  # as PY: the -failure function is not counted

    theirs, ours = (r.body for r in fake.of("/fn/register"))
    assert _functions(ours) == _functions(theirs)
    assert set(ours) == set(theirs)
    assert (ours["appname"], ours["deploy_type"], ours["v"]) == (
        theirs["appname"],
        theirs["deploy_type"],
        theirs["v"],
    )


def _functions(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The function configs with the app's URL factored out and PY's empty lists dropped."""
    text = json.dumps(payload["functions"]).replace(payload["url"], "<app>")
    return [{k: v for k, v in fn.items() if v != []} for fn in json.loads(text)]
