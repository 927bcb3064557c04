"""Strict JSON: what every boundary accepts, in one place.

Python's ``json`` takes more than JSON does: ``NaN`` and ``Infinity``, ``1e400`` (read as
infinity), lone UTF-16 surrogates written as ``\\ud800`` escapes, integers of any length, and
nesting deep enough to exhaust the interpreter's stack. Each of those, once stored, breaks a later
read (``NaN`` cannot be written back out as JSON; a lone surrogate cannot be encoded as UTF-8), so
they are refused where data comes in, with a reason that says what was wrong and where.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

try:  # the server extra brings it: bulk event intake parses fastest with it
    import orjson as _orjson
except ImportError:  # pragma: no cover - the plain json path is complete on its own
    _orjson = None  # type: ignore[assignment]


MAX_DEPTH = 128
"""Arrays and objects nested deeper than this are refused (the real need is a handful)."""

MAX_INT = 2**64 - 1
MIN_INT = -(2**63)
"""Integers must fit 64 bits (signed, or unsigned for positive values), as JSON peers read them."""


class JsonValueError(ValueError):
    """Input that is not strict JSON; the message says what and where."""


def _refuse_constant(name: str) -> Any:
    raise JsonValueError(f"{name} is not valid JSON (only finite numbers are)")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonValueError(f"the number {text[:40]} is too large to represent")
    return value


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > 20:
        raise JsonValueError(f"the integer {text[:24]}… has more than 20 digits")
    value = int(text)
    if not MIN_INT <= value <= MAX_INT:
        raise JsonValueError(f"the integer {text} does not fit in 64 bits")
    return value


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse strict JSON, or raise ``JsonValueError`` naming what was wrong."""
    if _orjson is not None:
        # orjson refuses NaN, infinities, 1e400, lone surrogates and bad UTF-8 as we do,
        # several times faster than json with our hooks. What it could read otherwise (an
        # integer past 64 bits, as a float), nesting past ``max_depth``, and every refusal
        # (for its message) are left to the careful path.
        try:
            value = _orjson.loads(raw)
        except _orjson.JSONDecodeError:
            pass
        else:
            if (type(raw) is bytes and _plainly_settled(raw, max_depth)) or _settled(
                value, max_depth
            ):
                return value
    return _careful_loads(raw, max_depth=max_depth)


_AMBIGUOUS = 9.2e18
"""A float this large may have been an integer orjson could not hold in 64 bits."""


def parse_trusted(text: str) -> Any:
    """JSON this process wrote itself (with ``dumps``): nothing to check, only to read."""
    return json.loads(text) if _orjson is None else _orjson.loads(text)


# Bytes tables for ``_plainly_settled``: digits, and e or E, kept as "0" and "e" (the rest a
# space); and every byte but quotes and brackets, to be deleted.
_NUMBER_SHAPES = bytes.maketrans(
    bytes(range(256)),
    bytes(48 if 48 <= b <= 57 else 101 if b in b"eE" else 32 for b in range(256)),
)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'{}[]"')
_LONG_NUMBER = b"0" * 19


def _plainly_settled(raw: bytes, max_depth: int) -> bool:
    """``_settled``'s answer read off the bytes orjson accepted, in passes of C over them
    instead of a walk over every container (the walk was ~9 % of the event intake's work
    for arrays of events). False leaves it to the walk; True only when the walk agrees."""
    if b"\\" in raw:
        return False  # an escaped quote: strings are not told apart from the bytes alone
    shapes = raw.translate(_NUMBER_SHAPES)
    # A float of _AMBIGUOUS or more is written with 19 digits in a row or with an exponent.
    if _LONG_NUMBER in shapes or b"0e" in shapes:
        return False
    if raw.count(b"{") + raw.count(b"[") <= max_depth:
        return True
    # Quotes and brackets alone; a string holding no bracket is then two quotes in a row,
    # and every quote goes only if every string is such one: the brackets left are outside.
    brackets = raw.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in brackets:
        return False
    # Each pass takes away at most one level of the innermost empty "{}" (or "[]").
    for _ in range(max_depth // 2):
        brackets = brackets.replace(b"{}", b"").replace(b"[]", b"")
        if not brackets:
            return True
    return False


def _settled(value: Any, max_depth: int) -> bool:
    """Whether orjson's reading of a document is final: no nesting deeper than ``max_depth``
    and no float large enough to have been an integer (one walk over the containers)."""
    if type(value) is float:
        return abs(value) < _AMBIGUOUS
    if type(value) is not dict and type(value) is not list:
        return True
    # Level by level: the depth is the walk's, not carried in a tuple per container.
    level: list[Any] = [value]
    depth = 1
    while level:
        if depth > max_depth:
            return False
        deeper: list[Any] = []
        append = deeper.append
        for item in level:
            for child in item.values() if type(item) is dict else item:
                kind = type(child)
                if kind is dict or kind is list:
                    append(child)
                elif kind is float and abs(child) >= _AMBIGUOUS:
                    return False
        level = deeper
        depth += 1
    return True


def _careful_loads(raw: bytes | str, *, max_depth: int) -> Any:
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonValueError(f"the body is not valid UTF-8 (at byte {exc.start})") from None
    else:
        text = raw
    try:
        value = json.loads(
            text, parse_constant=_refuse_constant, parse_float=_parse_float, parse_int=_parse_int
        )
    except JsonValueError:
        raise
    except RecursionError:
        raise JsonValueError(f"the JSON is nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise JsonValueError(f"not valid JSON ({exc})") from None
    # The walk costs a pass over the value: skip it when the text cannot hold what it looks for
    # (a lone surrogate needs a \u escape; deep nesting needs that many brackets).
    deep = text.count("[") + text.count("{") > max_depth
    if deep or "\\u" in text:
        check(value, max_depth=max_depth)
    return value


def check(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Refuse a parsed value nested too deeply or holding a lone surrogate (iterative walk)."""
    stack: list[tuple[Any, int, str]] = [(value, 1, "$")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, str):
            _check_text(item, path)
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise JsonValueError(f"the JSON is nested deeper than {max_depth} levels")
            if isinstance(item, dict):
                for key, child in item.items():
                    _check_text(key, f"{path} (a key)")
                    stack.append((child, depth + 1, f"{path}.{key}"))
            else:
                stack.extend((child, depth + 1, f"{path}[{i}]") for i, child in enumerate(item))


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        where = path if len(path) <= 120 else path[:117] + "..."
        raise JsonValueError(
            f"{where}: the string holds a lone UTF-16 surrogate at position {exc.start}, "
            "which is not valid Unicode"
        ) from None


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
"""Made once: ``json.dumps`` with any argument builds a new encoder on every call (~0.7 us)."""
_encode_text = json.encoder.encode_basestring  # a string literal, as _ENCODER writes one


def dumps(value: Any) -> str:
    """Compact JSON for a value the caller built (embedded mode), refusing what ``loads`` would:
    NaN and infinities, lone surrogates, values that are not JSON at all."""
    kind = type(value)
    if kind is str:  # names and ids, on every event: no encoder needed
        return dumps_text(value)
    if kind is int:  # timestamps: the encoder would build its C state for one number
        return int.__repr__(value)
    if _orjson is not None and kind is dict and _flat_and_plain(value):
        try:  # event data and step results are mostly this: ~10x faster
            return _orjson.dumps(value).decode()
        except _orjson.JSONEncodeError:
            pass  # a lone surrogate, an integer past 64 bits: the encoder says which
    try:
        text = _ENCODER.encode(value)
        if not text.isascii():  # only non-ASCII text can hold a lone surrogate
            text.encode("utf-8")
    except RecursionError:
        raise JsonValueError("the value is nested too deeply to be JSON") from None
    except UnicodeEncodeError as exc:
        raise _lone_surrogate(exc) from None
    except ValueError:
        raise JsonValueError("NaN and infinite numbers are not valid JSON") from None
    except TypeError as exc:
        raise JsonValueError(f"not JSON: {exc}") from None
    return text


_SCALARS = (str, int, bool, type(None))


def _flat_and_plain(value: dict[Any, Any]) -> bool:
    """Whether every key is a ``str`` and every value a plain scalar (exact types: orjson
    writes an Enum, a UUID or a dataclass that json refuses, and NaN as null)."""
    for key, item in value.items():
        if type(key) is not str:
            return False
        kind = type(item)
        if kind is float:
            if not math.isfinite(item):
                return False
        elif kind not in _SCALARS:
            return False
    return True


def _encode_loaded(value: Any) -> bytes:
    return _ENCODER.encode(value).encode("utf-8")


dumps_loaded: Callable[[Any], bytes] = _encode_loaded if _orjson is None else _orjson.dumps
"""UTF-8 JSON of a value ``loads`` returned (only JSON's own types, every string valid
Unicode, every number in range): nothing left to refuse, so nothing is checked (orjson's own
function, called per event). Raises ``TypeError`` or ``ValueError`` for a value that did not
come from ``loads`` after all."""


def dumps_wire(value: Any) -> bytes:
    """UTF-8 JSON of a call body built from what ``loads`` and the store returned (events,
    memo) and plain fields of ours: no NaN in it, so orjson, which refuses any other type and
    an integer past 64 bits; ``dumps`` for those (its checks and messages). ~10x json's speed
    on a 20-step memo."""
    if _orjson is not None:
        try:
            return _orjson.dumps(value)
        except _orjson.JSONEncodeError:
            pass
    return dumps(value).encode()


def dumps_text(text: str) -> str:
    """``dumps`` of a string, refusing a lone surrogate in it."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _lone_surrogate(exc) from None
    return _encode_text(text)


def _lone_surrogate(exc: UnicodeEncodeError) -> JsonValueError:
    """What ``dumps`` says of text it cannot write as UTF-8."""
    return JsonValueError(
        f"a string holds a lone UTF-16 surrogate at position {exc.start}, "
        "which is not valid Unicode"
    )


def encoded_size(value: Any) -> int:
    """Bytes of the value as compact UTF-8 JSON; raises ``JsonValueError`` if it is not JSON."""
    return utf8_size(dumps(value))


def utf8_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (ASCII, the common case, without encoding it)."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))
