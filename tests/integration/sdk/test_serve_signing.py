"""Request signatures in cloud mode (protocol.md §6.2), and the trust probe."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import httpx

import stepwell
from stepwell import Context
from stepwell.protocol import signing
from stepwell.sdk.serve import Handler, HttpRequest, ServeConfig
from tests.integration.sdk.serving import call_body, client_for, serving

# The test vector of protocol.md §6.2.
KEY = "signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f"
STAMP = 1687306735
SIGNATURE = "eece58c8cf7cfc21a5751b1969c9aef525c96257b42b556c2782c83d26ea0d87"
_EVENT = {
    "data": {},
    "id": "",
    "name": "inngest/scheduled.timer",
    "ts": 1674082830001,
    "v": "1",
}
VECTOR_BODY = {
    "ctx": {
        "fn_id": "local-testing-local-cron",
        "run_id": "01GQ3HTEZ01M7R8Z9PR1DMHDN1",
        "step_id": "step",
    },
    "event": _EVENT,
    "events": [_EVENT],
    "steps": {},
    "use_api": False,
}
FALLBACK = "signkey-test-abcdef"


def _app() -> stepwell.App:
    app = stepwell.App("local-testing")

    @app.function("local-cron")
    async def cron(ctx: Context) -> str:
        return f"ran for {ctx.event.name}"

    return app


def _vector_request() -> HttpRequest:
    # Pretty-printed with keys reversed: the signature is over the canonical (JCS) form.
    body = json.dumps(dict(reversed(VECTOR_BODY.items())), indent=2).encode()
    return HttpRequest.build(
        "POST",
        "http://127.0.0.1/api/inngest?fnId=local-testing-local-cron&stepId=step",
        {"X-Inngest-Signature": f"t={STAMP}&s={SIGNATURE}", "Content-Type": "application/json"},
        body,
    )


async def test_the_protocol_test_vector_is_accepted_and_the_answer_signed() -> None:
    config = ServeConfig.resolve(is_dev=False, signing_key=KEY)
    at_signing_time = Handler(_app(), config, "test", clock=lambda: STAMP + 10)
    reply = await at_signing_time.handle(_vector_request())
    assert reply.status == 200
    assert reply.json() == "ran for inngest/scheduled.timer"
    stamp = int(parse_qs(reply.headers["X-Inngest-Signature"])["t"][0])
    assert reply.headers["X-Inngest-Signature"] == signing.signature(reply.body, KEY, stamp)


async def test_a_stale_or_altered_signature_is_refused() -> None:
    config = ServeConfig.resolve(is_dev=False, signing_key=KEY)
    later = Handler(_app(), config, "test", clock=lambda: STAMP + 301)
    assert (await later.handle(_vector_request())).status == 401
    on_time = Handler(_app(), config, "test", clock=lambda: STAMP)
    altered = _vector_request()
    tampered = HttpRequest.build(
        "POST", altered.url, dict(altered.headers), altered.body.replace(b"01GQ", b"01GX")
    )
    reply = await on_time.handle(tampered)
    assert reply.status == 401
    assert reply.json() == {"message": "Unauthorized"}
    assert "X-Inngest-SDK" not in reply.headers


async def test_over_http_only_requests_signed_with_a_known_key_run() -> None:
    served = stepwell.serve(_app(), is_dev=False, signing_key=KEY, signing_key_fallback=FALLBACK)
    body = json.dumps(call_body()).encode()
    url_path = "/api/inngest?fnId=local-testing-local-cron&stepId=step"

    def signed(key: str, payload: bytes = body) -> dict[str, str]:
        return {"X-Inngest-Signature": signing.signature(signing.canonical(payload), key)}

    async with serving(served) as url, httpx.AsyncClient() as client:
        good = await client.post(url + url_path, content=body, headers=signed(KEY))
        fallback = await client.post(url + url_path, content=body, headers=signed(FALLBACK))
        other = await client.post(url + url_path, content=body, headers=signed("signkey-test-0bad"))
        unsigned = await client.post(url + url_path, content=body)
        wrong_body = await client.post(
            url + url_path, content=body, headers=signed(KEY, b'{"other":1}')
        )
        probe = await client.post(f"{url}/api/inngest?probe=trust", headers=signed(KEY, b""))
        bad_probe = await client.post(f"{url}/api/inngest?probe=trust")
    assert good.status_code == 200
    assert good.json() == "ran for test/go"
    assert fallback.status_code == 200
    stamp = int(parse_qs(fallback.headers["x-inngest-signature"])["t"][0])
    assert fallback.headers["x-inngest-signature"] == signing.signature(
        fallback.content, FALLBACK, stamp
    )
    for refused in (other, unsigned, wrong_body, bad_probe):
        assert refused.status_code == 401
        assert "x-inngest-sdk" not in refused.headers
    assert probe.status_code == 200
    assert probe.content == b"null"


async def test_dev_mode_never_checks_signatures() -> None:
    async with client_for(stepwell.serve(_app(), is_dev=True)) as (url, client):
        reply = await client.post(
            f"{url}/api/inngest?fnId=local-testing-local-cron",
            json=call_body(),
            headers={"X-Inngest-Signature": "t=1&s=garbage"},
        )
    assert reply.status_code == 200
    assert "x-inngest-signature" not in reply.headers
