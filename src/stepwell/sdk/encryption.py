"""``EncryptionMiddleware``: step results (``step.fetch`` and ``step.ai.infer`` responses too,
when made in process), function results, and one field of the data of sent events and of
``step.invoke`` payloads, encrypted at rest in the format of Inngest's ``inngest-encryption``
package, so that apps on either SDK read each other's data.

Over HTTP the server makes ``step.fetch`` and ``step.ai.infer`` requests and stores their
responses itself, as Inngest's does: without the key it stores them plain (the official
middleware cannot seal them either); reading them back works the same.

The format (``inngest_encryption/main.py`` 0.1.0): the value as ``json.dumps`` text, sealed
with libsodium's secretbox (XSalsa20-Poly1305, a random 24-byte nonce before the ciphertext),
base64 encoded, in ``{"__ENCRYPTED__": true, "__STRATEGY__": "inngest/libsodium", "data": ...}``.
A ``str`` key is hashed to 32 bytes with BLAKE2b (libsodium's generichash); a ``bytes`` key
is hex, 64 digits, as that package reads it. Needs ``pip install stepwell[encryption]``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from stepwell.core.errors import ConfigError, NonRetriableError
from stepwell.sdk.middleware import Middleware

__all__ = ["DecryptionError", "EncryptionMiddleware", "is_encrypted"]

ENCRYPTED = "__ENCRYPTED__"
STRATEGY = "__STRATEGY__"
LIBSODIUM = "inngest/libsodium"
DEFAULT_FIELD = "encrypted"


class DecryptionError(NonRetriableError):
    """Encrypted data that none of the keys opens (a wrong or missing key, or tampering)."""


def is_encrypted(value: object) -> bool:
    return (
        isinstance(value, dict)
        and value.get(ENCRYPTED) is True
        and value.get(STRATEGY) == LIBSODIUM
    )


def _key_bytes(key: str | bytes) -> bytes:
    import nacl.hash
    import nacl.secret

    if isinstance(key, str):
        raw: bytes = nacl.hash.generichash(
            key.encode("utf-8"), digest_size=nacl.secret.SecretBox.KEY_SIZE, encoder=_raw()
        )
        return raw
    try:
        raw = bytes.fromhex(key.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ConfigError(
            "a bytes key must be hex (64 digits), as inngest-encryption reads it"
        ) from None
    if len(raw) != nacl.secret.SecretBox.KEY_SIZE:
        raise ConfigError(f"a key must be {nacl.secret.SecretBox.KEY_SIZE} bytes (64 hex digits)")
    return raw


def _raw() -> Any:
    import nacl.encoding

    return nacl.encoding.RawEncoder


class EncryptionMiddleware(Middleware):
    """Encrypts what is stored with ``key``; decrypts with it, then with ``fallback_keys``
    (older keys, so data written before a key rotation stays readable)."""

    def __init__(
        self,
        key: str | bytes,
        *,
        fallback_keys: Sequence[str | bytes] = (),
        event_field: str = DEFAULT_FIELD,
        decrypt_only: bool = False,
    ) -> None:
        try:
            import nacl.secret
        except ImportError as exc:  # an optional dependency
            raise ImportError(
                "EncryptionMiddleware needs: pip install stepwell[encryption]"
            ) from exc
        self._boxes = [nacl.secret.SecretBox(_key_bytes(k)) for k in (key, *fallback_keys)]
        self.event_field = event_field
        self.decrypt_only = decrypt_only

    # -- the format -------------------------------------------------------------------------------

    def encrypt(self, value: Any) -> Any:
        """``value`` sealed in the envelope (an envelope is left as it is)."""
        if is_encrypted(value):
            return value
        import nacl.encoding

        sealed = self._boxes[0].encrypt(
            json.dumps(value).encode(), encoder=nacl.encoding.Base64Encoder
        )
        return {ENCRYPTED: True, STRATEGY: LIBSODIUM, "data": sealed.decode()}

    def decrypt(self, value: Any) -> Any:
        """An envelope opened; anything else is returned unchanged."""
        if not is_encrypted(value) or not isinstance(value.get("data"), str):
            return value
        import nacl.encoding
        import nacl.exceptions

        for box in self._boxes:
            try:
                plain = box.decrypt(value["data"].encode(), encoder=nacl.encoding.Base64Encoder)
            except (nacl.exceptions.CryptoError, ValueError):
                continue
            return json.loads(plain.decode())
        raise DecryptionError(
            f"could not decrypt stored data with any of the {len(self._boxes)} key(s) given "
            "(wrong key? add the old one to fallback_keys)"
        )

    def decrypt_event_data(self, data: dict[str, Any]) -> dict[str, Any]:
        """Data encrypted whole, else its first encrypted field (ours tried first)."""
        if is_encrypted(data):
            opened = self.decrypt(data)
            if not isinstance(opened, dict):
                raise DecryptionError("encrypted event data did not decrypt to an object")
            rest = {k: v for k, v in data.items() if k not in (ENCRYPTED, STRATEGY, "data")}
            return {**rest, **opened}
        for name in sorted(data, key=lambda k: k != self.event_field):
            if is_encrypted(data[name]):
                return {**data, name: self.decrypt(data[name])}
        return data

    # -- the hooks --------------------------------------------------------------------------------

    async def transform_input(self, data: dict[str, Any]) -> dict[str, Any]:
        return self.decrypt_event_data(data)

    async def transform_stored(self, value: Any) -> Any:
        return self.decrypt(value)

    async def transform_step(self, step_id: str, result: Any) -> Any:
        return result if self.decrypt_only else self.encrypt(result)

    async def transform_output(self, output: Any) -> Any:
        return output if self.decrypt_only else self.encrypt(output)

    async def before_send_events(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.decrypt_only:
            return events
        out = []
        for event in events:
            data = event.get("data") or {}
            sealed = self.seal_field(data)
            out.append(event if sealed is data else {**event, "data": sealed})
        return out

    async def transform_invoke(self, data: dict[str, Any]) -> dict[str, Any]:
        # The official middleware seals the same field of an invoke's payload as of an event.
        return data if self.decrypt_only else self.seal_field(data)

    def read_output(self, output: Any) -> Any:
        return self.decrypt(output)

    def seal_field(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with its ``event_field`` encrypted, if it has one that is not None."""
        if data.get(self.event_field) is None:
            return data
        return {**data, self.event_field: self.encrypt(data[self.event_field])}
