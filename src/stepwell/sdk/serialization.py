"""Values to JSON and back, by type hint: what steps and functions return goes through here.

Encoding turns Pydantic models, dataclasses, ``datetime``, ``UUID``, ``Decimal`` (anything
Pydantic can serialise) into plain JSON values before they are stored; decoding turns the
stored JSON back into the declared type, so a replayed step returns what the first run did.

Pydantic is imported only for a hint that needs it: plain JSON hints (``dict``, ``list[str]``,
``int | None``, ...) and values that are JSON already go through without it, so apps whose
steps return plain data never load it (faster start-up, and no adapter call per step).
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Union, get_args, get_origin, get_type_hints

if TYPE_CHECKING:
    from pydantic import TypeAdapter

NO_HINT: Any = inspect.Parameter.empty
"""The hint of a callable that declares no return type (or one we cannot read)."""

_JSON_SCALARS = (str, int, float, bool, type(None))


# Hints whose values are stored and read back as the very same JSON values.
_JSON_TYPES: frozenset[Any] = frozenset({str, int, bool, type(None), None, Any, object, dict, list})
_JSON_CONTAINERS: frozenset[Any] = frozenset({dict, list, Union, types.UnionType})


def _is_plain_json(hint: Any) -> bool:
    """Whether values of ``hint`` need no conversion either way (``dict[str, Any]``,
    ``list[int]``, ``str | None``...). ``float`` is not one: a stored ``1`` must read as ``1.0``."""
    try:
        if hint in _JSON_TYPES:
            return True
    except TypeError:  # unhashable
        return False
    origin = get_origin(hint)
    if origin not in _JSON_CONTAINERS:
        return False
    args = get_args(hint)
    if origin is dict and args and args[0] is not str:
        return False
    return all(_is_plain_json(arg) for arg in args)


@functools.lru_cache(maxsize=1024)
def _adapter(hint: Any) -> TypeAdapter[Any] | None:
    if _is_plain_json(hint):
        return None
    from pydantic import TypeAdapter
    from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError

    try:
        return TypeAdapter(hint)
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError):
        return None  # a type Pydantic cannot describe: values pass through as they are


def adapter_for(hint: Any) -> TypeAdapter[Any] | None:
    if hint is NO_HINT or hint is None or hint is Any or hint is object:
        return None
    try:
        return _adapter(hint)
    except TypeError:  # an unhashable hint (rare): build it each time
        if _is_plain_json(hint):
            return None
        from pydantic import TypeAdapter

        return TypeAdapter(hint)


def return_hint(fn: Callable[..., Any]) -> Any:
    """The declared return type of ``fn`` (``NO_HINT`` for lambdas, partials, classes...)."""
    target: Any = fn
    while isinstance(target, functools.partial):
        target = target.func
    # Every step call asks: answer the common cases (a lambda, a function without a return
    # annotation) without resolving hints, and resolve each annotated function once.
    annotations = getattr(target, "__annotations__", None)
    if not annotations or "return" not in annotations:
        return NO_HINT
    if inspect.isclass(target) or not callable(target):
        return NO_HINT
    try:
        return _resolved_return(target)
    except TypeError:  # an unhashable callable: resolve it each time
        return _resolve_return(target)


@functools.lru_cache(maxsize=4096)
def _resolved_return(target: Any) -> Any:
    return _resolve_return(target)


def _resolve_return(target: Any) -> Any:
    try:
        hints = get_type_hints(target)
    except Exception:  # unresolvable forward references, builtins without annotations
        return NO_HINT
    return hints.get("return", NO_HINT)


def encode(value: Any, hint: Any = NO_HINT, *, what: str = "value") -> Any:
    """``value`` as plain JSON values (dicts, lists, str, numbers, bools, None). A value that
    cannot be converted (or holds a set, which JSON has not) is returned as it is: the strict
    JSON check that follows refuses it with its usual message."""
    if isinstance(value, _JSON_SCALARS):
        return value
    adapter = adapter_for(hint)
    if adapter is None:
        shape = _shape(value)
        if shape is _PLAIN or shape is _HOLDS_SET:
            return value  # already JSON (most results); or a set, which the check refuses
    from pydantic_core import PydanticSerializationError, to_jsonable_python

    try:
        if adapter is not None:
            try:
                return adapter.dump_python(value, mode="json", warnings="error")
            except PydanticSerializationError:
                pass  # the value is not of its declared type: encode it by what it is
            shape = _shape(value)
            if shape is _PLAIN or shape is _HOLDS_SET:
                return value
        return to_jsonable_python(value)
    except PydanticSerializationError:
        return value


_PLAIN = "plain"
_HOLDS_SET = "set"
_OTHER = "other"


def _shape(value: Any) -> str:
    """Whether ``value`` is plain JSON already, holds a set somewhere, or needs converting
    (one walk; plain dicts and lists of scalars, the common step result, go untouched)."""
    if isinstance(value, _JSON_SCALARS):
        return _PLAIN
    if isinstance(value, set | frozenset):
        return _HOLDS_SET
    if isinstance(value, dict):
        children: Any = value.values()
        shape = _PLAIN
        for key in value:
            if not isinstance(key, str):
                shape = _OTHER
                break
    elif isinstance(value, list):
        children, shape = value, _PLAIN
    elif isinstance(value, tuple):
        children, shape = value, _OTHER
    else:
        return _OTHER
    for child in children:
        found = _shape(child)
        if found is _HOLDS_SET:
            return _HOLDS_SET
        if found is _OTHER:
            shape = _OTHER
    return shape


def decode(value: Any, hint: Any = NO_HINT) -> Any:
    """The stored JSON ``value`` as ``hint`` (unchanged without a usable hint)."""
    adapter = adapter_for(hint)
    if adapter is None:
        return value
    return adapter.validate_python(value)
