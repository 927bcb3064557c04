"""Request signatures and key hashing (protocol.md §6).

A signature is ``t=<unix seconds>&s=<hex HMAC-SHA256>`` over the RFC 8785 canonical form of the
body followed by the timestamp, keyed with the signing key's text minus its ``signkey-<env>-``
prefix. SDKs authenticate to the server with ``Bearer <sha256 of the hex-decoded key>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Sequence
from urllib.parse import parse_qs

import jcs

_PREFIX = re.compile(r"^signkey-\w+-")
_STAMP = re.compile(r"-?[0-9]{1,12}")
_HEX = re.compile(r"[0-9a-fA-F]{1,128}")


def strip_prefix(key: str) -> str:
    return _PREFIX.sub("", key.strip())


def canonical(body: bytes) -> bytes:
    """The canonical form of a JSON body; an empty body stays empty (GET, body-less PUT)."""
    if not body.strip():
        return b""
    canonicalized: bytes = jcs.canonicalize(json.loads(body))
    return canonicalized


def signature(body: bytes, key: str, unix_seconds: int | None = None) -> str:
    """The ``X-Inngest-Signature`` value for ``body`` (already canonical)."""
    stamp = int(time.time()) if unix_seconds is None else unix_seconds
    digest = hmac.new(
        strip_prefix(key).encode("utf-8"), body + str(stamp).encode("ascii"), hashlib.sha256
    ).hexdigest()
    return f"t={stamp}&s={digest}"


def verify(
    header: str | None,
    body: bytes,
    keys: list[str],
    *,
    max_age_s: float | None = None,
    now: float | None = None,
) -> bool:
    """True if ``header`` signs ``body`` (canonicalised first) with one of ``keys``."""
    if not header:
        return False
    fields = parse_qs(header)
    stamps, sigs = fields.get("t"), fields.get("s")
    if not stamps or not sigs or not _STAMP.fullmatch(stamps[0]) or not _HEX.fullmatch(sigs[0]):
        return False  # junk (non-digits, 5,000 digits, non-hex or non-ASCII) is no signature
    stamp = int(stamps[0])
    if max_age_s is not None and abs((now or time.time()) - stamp) > max_age_s:
        return False
    try:
        message = canonical(body)
    except (ValueError, TypeError, RecursionError):  # not JSON (or not JSON jcs can write)
        return False
    for key in keys:
        expected = signature(message, key, stamp).split("&s=", 1)[1]
        if hmac.compare_digest(expected, sigs[0]):
            return True
    return False


def hashed_key(key: str) -> str:
    """``sha256(hex-decoded key)`` in hex: what SDKs send as their Bearer token."""
    plain = strip_prefix(key)
    try:
        raw = bytes.fromhex(plain)
    except ValueError:
        raw = plain.encode("utf-8")
    return hashlib.sha256(raw).hexdigest()


def bearer_tokens(key: str) -> list[bytes]:
    """The tokens a key may be presented as after ``Bearer``: the key itself (without its
    prefix) and its hash (§6.3)."""
    return [strip_prefix(key).encode("utf-8"), hashed_key(key).encode("ascii")]


def bearer_problem(authorization: bytes | None, tokens: Sequence[bytes]) -> str | None:
    """Why an ``Authorization`` header does not carry one of ``tokens``, or None when it does.

    Compared as bytes: a header may hold any octets, and compare_digest refuses non-ASCII
    text. Every token is compared (constant time each), so timing does not tell which matched.
    """
    if not authorization:
        return "an 'Authorization: Bearer <signing key>' header is required"
    scheme, _, token = authorization.strip().partition(b" ")
    if scheme.lower() != b"bearer" or not token.strip():
        return "expected 'Authorization: Bearer <signing key>'"
    presented = token.strip()
    if presented.startswith(b"signkey-"):
        presented = strip_prefix(presented.decode("latin-1")).encode("latin-1")
    matched = False
    for accepted in tokens:
        matched |= hmac.compare_digest(presented, accepted)
    return None if matched else "the key does not match this server's signing key"


def bearer_ok(authorization: str | None, key: str) -> bool:
    """Accept ``Bearer <key>`` or ``Bearer <hashed key>``, with or without the prefix."""
    raw = None if authorization is None else authorization.encode("utf-8", "surrogateescape")
    return bearer_problem(raw, bearer_tokens(key)) is None
