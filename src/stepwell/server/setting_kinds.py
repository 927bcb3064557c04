"""The kinds of value a server setting has, and reading them from the environment or TOML."""

from __future__ import annotations

from typing import Literal

Kind = Literal["str", "int", "float", "bool", "list", "duration"]
Value = str | int | float | bool | list[str]

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")
KIND_NAMES: dict[Kind, str] = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "a list of strings",
    "duration": 'a duration string such as "30d"',
}


class SettingsError(ValueError):
    """A setting that is missing, malformed or out of range; the message says where it came
    from (the flag, the environment variable, or the key and the file)."""


def from_env(text: str, kind: Kind, name: str) -> Value:
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {text!r}") from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise SettingsError(f"{name} must be a number of seconds, got {text!r}") from None
    if kind == "bool":
        lowered = text.lower()
        if lowered in TRUE or lowered in FALSE:
            return lowered in TRUE
        raise SettingsError(f"{name} must be one of {'/'.join(TRUE + FALSE)}, got {text!r}")
    if kind == "list":
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def has_kind(raw: object, kind: Kind) -> bool:
    if kind in ("str", "duration"):
        return isinstance(raw, str)
    if kind == "int":
        return isinstance(raw, int) and not isinstance(raw, bool)
    if kind == "float":
        return isinstance(raw, int | float) and not isinstance(raw, bool)
    if kind == "bool":
        return isinstance(raw, bool)
    return isinstance(raw, list) and all(isinstance(item, str) for item in raw)


def toml_type(raw: object) -> str:
    if isinstance(raw, bool):
        return f"the boolean {str(raw).lower()}"
    if isinstance(raw, int | float | str):
        return f"{type(raw).__name__} {raw!r}"
    if isinstance(raw, list):
        return "a list with items that are not strings"
    if isinstance(raw, dict):
        return "a table"
    return type(raw).__name__
