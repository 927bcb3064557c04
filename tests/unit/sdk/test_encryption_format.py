"""Our EncryptionMiddleware and Inngest's inngest-encryption read each other's data."""

from __future__ import annotations

from typing import Any

import inngest
import pytest
from inngest_encryption import EncryptionMiddleware as Official

import stepwell
from stepwell import EncryptionMiddleware

HEX_KEY = b"11" * 32
VALUES: list[Any] = [{"card": "4242", "n": [1, 2.5, None]}, "text é", 7, None, [True]]


def official(key: str | bytes, fallback: list[str | bytes] | None = None) -> Official:
    client = inngest.Inngest(app_id="interop", is_production=False)
    return Official(client, None, key, fallback_decryption_keys=fallback)


@pytest.mark.parametrize("key", ["a passphrase", HEX_KEY])
@pytest.mark.parametrize("value", VALUES)
def test_both_ways(key: str | bytes, value: Any) -> None:
    ours, theirs = EncryptionMiddleware(key), official(key)
    sealed = ours.encrypt(value)
    assert set(sealed) == {"__ENCRYPTED__", "__STRATEGY__", "data"}
    assert sealed["__STRATEGY__"] == "inngest/libsodium"
    assert theirs._decrypt(sealed) == value
    assert ours.decrypt(theirs._encrypt(value)) == value


def test_event_data_as_the_official_package_writes_it() -> None:
    ours, theirs = EncryptionMiddleware("k"), official("k")
    data = {"encrypted": theirs._encrypt({"ssn": "123"}), "plain": 1}
    assert ours.decrypt_event_data(data) == {"encrypted": {"ssn": "123"}, "plain": 1}
    whole = {**theirs._encrypt({"a": 1}), "_inngest": {"x": 1}}  # an invoke's data
    assert ours.decrypt_event_data(whole) == {"a": 1, "_inngest": {"x": 1}}


def test_wrong_key_is_a_clear_error_and_fallback_keys_read_old_data() -> None:
    old = EncryptionMiddleware("old key").encrypt({"v": 1})
    with pytest.raises(stepwell.DecryptionError, match="fallback_keys"):
        EncryptionMiddleware("new key").decrypt(old)
    rotated = EncryptionMiddleware("new key", fallback_keys=["old key"])
    assert rotated.decrypt(old) == {"v": 1}
    with pytest.raises(stepwell.DecryptionError):  # new data is sealed with the new key
        EncryptionMiddleware("old key").decrypt(rotated.encrypt(2))
    assert official("new key", ["old key"])._decrypt(old) == {"v": 1}


def test_unencrypted_values_pass_through_and_bad_keys_are_refused() -> None:
    mw = EncryptionMiddleware("k")
    assert mw.decrypt({"plain": True}) == {"plain": True}
    sealed = mw.encrypt(1)
    assert mw.encrypt(sealed) is sealed  # an envelope is not sealed twice
    with pytest.raises(ValueError, match="hex"):
        EncryptionMiddleware(b"not hex")
