"""Request signatures and Bearer keys (protocol.md §6): what the server signs, what a served app
verifies, and what every API route accepts as a key."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from stepwell.protocol import signing

# The SDK test suites' vector (protocol.md §6.2).
KEY = "signkey-test-f00f3005a3666b359a79c2bc3380ce2715e62727ac461ae1a2618f8766029c9f"
STAMP = 1687306735
_EVENT = {"data": {}, "id": "", "name": "inngest/scheduled.timer", "ts": 1674082830001, "v": "1"}
BODY: dict[str, Any] = {
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
VECTOR = f"t={STAMP}&s=eece58c8cf7cfc21a5751b1969c9aef525c96257b42b556c2782c83d26ea0d87"

OTHER = "signkey-test-0123456789abcdef"


def raw(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8")


def signed(body: bytes, key: str = KEY, stamp: int = STAMP) -> str:
    return signing.signature(signing.canonical(body), key, stamp)


# -- canonical bodies -------------------------------------------------------------------------


def test_canonical_sorts_keys_and_drops_whitespace() -> None:
    assert signing.canonical(b'{ "b": 1,\n "a": [1, 2.0, "\\u00e9"] }') == (
        '{"a":[1,2,"é"],"b":1}'.encode()
    )


@pytest.mark.parametrize("body", [b"", b"   ", b"\n"])
def test_an_empty_body_stays_empty(body: bytes) -> None:
    assert signing.canonical(body) == b""


# -- signing and verifying --------------------------------------------------------------------


def test_the_known_vector() -> None:
    assert signed(raw(BODY)) == VECTOR


def test_the_signature_is_over_the_canonical_body() -> None:
    # However the body was written, it is verified in its canonical form.
    pretty = json.dumps(BODY, indent=2, sort_keys=False).encode()
    assert signing.verify(VECTOR, pretty, [KEY])
    assert signing.verify(VECTOR, raw(BODY), [KEY])


def test_a_round_trip_with_the_current_time() -> None:
    header = signing.signature(signing.canonical(raw({"x": 1})), KEY)
    assert signing.verify(header, raw({"x": 1}), [KEY], max_age_s=300)


def test_an_empty_body_is_signed_too() -> None:
    header = signed(b"")
    assert signing.verify(header, b"", [KEY])
    assert not signing.verify(header, raw({}), [KEY])


def test_the_key_is_used_without_its_prefix() -> None:
    bare = KEY.removeprefix("signkey-test-")
    assert signed(raw(BODY), bare) == VECTOR
    assert signed(raw(BODY), f"signkey-prod-{bare}") == VECTOR
    assert signing.verify(VECTOR, raw(BODY), [bare])


def test_a_changed_body_or_stamp_does_not_verify() -> None:
    assert not signing.verify(VECTOR, raw({**BODY, "use_api": True}), [KEY])
    moved = VECTOR.replace(f"t={STAMP}", f"t={STAMP + 1}")
    assert not signing.verify(moved, raw(BODY), [KEY])


def test_another_key_does_not_verify() -> None:
    assert not signing.verify(VECTOR, raw(BODY), [OTHER])
    assert not signing.verify(VECTOR, raw(BODY), [])


def test_any_key_of_the_list_verifies_current_or_fallback() -> None:
    assert signing.verify(VECTOR, raw(BODY), [OTHER, KEY])
    assert signing.verify(VECTOR, raw(BODY), [KEY, OTHER])
    assert signing.verify(signed(raw(BODY), OTHER), raw(BODY), [KEY, OTHER])


def test_the_digest_is_compared_as_written_lower_case_hex() -> None:
    stamp, digest = VECTOR.split("&s=")
    assert not signing.verify(f"{stamp}&s={digest.upper()}", raw(BODY), [KEY])


def test_the_fields_may_come_in_any_order() -> None:
    stamp, digest = VECTOR.split("&")
    assert signing.verify(f"{digest}&{stamp}", raw(BODY), [KEY])


# -- age --------------------------------------------------------------------------------------


def test_max_age_refuses_a_stamp_too_old_or_too_far_ahead() -> None:
    body = raw(BODY)
    assert signing.verify(VECTOR, body, [KEY], max_age_s=300, now=STAMP + 300)
    assert not signing.verify(VECTOR, body, [KEY], max_age_s=300, now=STAMP + 301)
    assert not signing.verify(VECTOR, body, [KEY], max_age_s=300, now=STAMP - 301)


def test_without_max_age_any_stamp_is_accepted() -> None:
    assert signing.verify(VECTOR, raw(BODY), [KEY], now=STAMP + 10**9)


# -- junk is no signature, never an error -----------------------------------------------------

DIGEST = VECTOR.split("&s=")[1]


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"s={DIGEST}",
        f"t={STAMP}",
        f"t={STAMP}&s=",
        f"t=&s={DIGEST}",
        f"t=abc&s={DIGEST}",
        f"t=1.5&s={DIGEST}",
        f"t={'9' * 5000}&s={DIGEST}",
        f"t={'1' * 13}&s={DIGEST}",
        f"t=٣٣&s={DIGEST}",
        f"t={STAMP}&s=not-hex",
        f"t={STAMP}&s={DIGEST[:-1]}g",
        f"t={STAMP}&s={'a' * 129}",
        f"t={STAMP}&s={DIGEST[:-2]}é",
        f"t={STAMP}&s=٣٣",
        f"t={STAMP}&s={DIGEST[:10]}",
        "t=%ff&s=%00",
    ],
)
def test_a_malformed_header_does_not_verify(header: str | None) -> None:
    assert signing.verify(header, raw(BODY), [KEY]) is False


@pytest.mark.parametrize(
    "body", [b"{not json", b"NaN-ish", b"\xff\xfe", b"[" * 100_000, b'{"a": 1}{"b": 2}']
)
def test_a_body_that_is_not_json_does_not_verify(body: bytes) -> None:
    assert signing.verify(signed(b""), body, [KEY]) is False


# -- Bearer keys (§6.3) -----------------------------------------------------------------------

PROD = "signkey-prod-12345678"
PROD_HASH = "b2ed992186a5cb19f6668aade821f502c1d00970dfd0e35128d51bac4649916c"


def test_the_hashed_key_is_the_sha256_of_the_decoded_hex() -> None:
    assert signing.hashed_key(PROD) == PROD_HASH
    assert signing.hashed_key("12345678") == PROD_HASH


def test_a_key_that_is_not_hex_is_hashed_as_text() -> None:
    assert signing.hashed_key("signkey-test-not-hex") == hashlib.sha256(b"not-hex").hexdigest()


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {PROD}",  # the key itself
        "Bearer 12345678",  # without its prefix
        f"Bearer {PROD_HASH}",  # hashed, as the Python SDK sends it
        f"Bearer signkey-prod-{PROD_HASH}",  # hashed and prefixed, as the TypeScript SDK does
        f"Bearer signkey-test-{PROD_HASH}",  # any environment's prefix
        f"bearer {PROD_HASH}",
        f"BEARER   {PROD_HASH}  ",
    ],
)
def test_bearer_accepts_the_key_plain_or_hashed(authorization: str) -> None:
    assert signing.bearer_ok(authorization, PROD) is True


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer undefined",  # the TypeScript SDK in dev mode without a key
        PROD_HASH,  # no scheme
        f"Basic {PROD_HASH}",
        f"Bearer {PROD_HASH[:-1]}",
        f"Bearer {PROD_HASH}0",
        f"Bearer {PROD_HASH.upper()}",
        "Bearer 1234567",
        "Bearer signkey-prod-",
        "Bearer é",
        f"Bearer {PROD_HASH[:-1]}é",
        "Bearer 🔑",
        "Bearer \udcff\udcfe",  # bytes that were not UTF-8, as decoded with surrogateescape
    ],
)
def test_bearer_refuses_anything_else(authorization: str | None) -> None:
    assert signing.bearer_ok(authorization, PROD) is False


def test_bearer_checks_against_the_key_it_is_given() -> None:
    assert not signing.bearer_ok(f"Bearer {PROD_HASH}", OTHER)
    assert signing.bearer_ok(f"Bearer {signing.hashed_key(OTHER)}", OTHER)
