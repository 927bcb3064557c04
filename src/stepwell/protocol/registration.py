"""App registration payloads (protocol.md §3.3): what SDKs POST to ``/fn/register``.

Both official SDKs are accepted: keys are matched leniently (``appname``/``appName``,
``deploy_type``/``deployType``), unknown keys are ignored, and every refusal names the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class RegistrationError(ValueError):
    """A registration payload the server refuses; ``str()`` names the offending field."""


def _lenient(payload: dict[str, Any], *names: str) -> Any:
    folded = {key.lower().replace("_", ""): value for key, value in payload.items()}
    for name in names:
        value = folded.get(name.lower().replace("_", ""))
        if value is not None:
            return value
    return None


@dataclass(slots=True)
class TriggerConfig:
    event: str | None = None
    expression: str | None = None
    cron: str | None = None
    jitter: str | None = None


@dataclass(slots=True)
class FunctionConfig:
    slug: str
    name: str
    url: str
    triggers: list[TriggerConfig]
    retries: int | None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AppRegistration:
    app_name: str
    url: str
    sdk: str
    framework: str
    functions: list[FunctionConfig]
    raw: dict[str, Any] = field(default_factory=dict)


def parse_registration(payload: Any) -> AppRegistration:
    if not isinstance(payload, dict):
        raise RegistrationError("Invalid request: the body must be a JSON object")
    app_name = _lenient(payload, "appName", "app_name")
    if not isinstance(app_name, str) or not app_name.strip():
        raise RegistrationError("appName: an app name is required")
    url = payload.get("url")
    if not isinstance(url, str) or not url:
        raise RegistrationError("url: the app's URL is required")
    raw_functions = payload.get("functions")
    if not isinstance(raw_functions, list):
        raise RegistrationError("functions: expected an array of function configs")
    functions = [_parse_function(i, raw) for i, raw in enumerate(raw_functions)]
    slugs = [f.slug for f in functions]
    duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
    if duplicates:
        raise RegistrationError(f"functions: duplicate function id(s) {duplicates}")
    return AppRegistration(
        app_name=app_name,
        url=url,
        sdk=str(payload.get("sdk") or ""),
        framework=str(payload.get("framework") or ""),
        functions=functions,
        raw=payload,
    )


def _parse_function(index: int, raw: Any) -> FunctionConfig:
    where = f"functions[{index}]"
    if not isinstance(raw, dict):
        raise RegistrationError(f"{where}: expected an object")
    slug = raw.get("id")
    if not isinstance(slug, str) or not slug:
        raise RegistrationError(f"{where}.id: a function id is required")
    where = f"functions[{index}] ({slug})"
    triggers_raw = raw.get("triggers")
    if triggers_raw is None:
        triggers_raw = []
    if not isinstance(triggers_raw, list):
        raise RegistrationError(f"{where}.triggers: expected an array")
    if len(triggers_raw) > 10:
        raise RegistrationError(f"{where}.triggers: at most 10 triggers, got {len(triggers_raw)}")
    triggers = [_parse_trigger(f"{where}.triggers[{i}]", t) for i, t in enumerate(triggers_raw)]
    seen = [(t.event, t.expression, t.cron) for t in triggers]
    if len(set(seen)) != len(seen):
        raise RegistrationError(f"{where}.triggers: duplicate triggers")
    steps = raw.get("steps")
    if not isinstance(steps, dict) or not steps:
        raise RegistrationError(f"{where}.steps: expected an object with a 'step' entry")
    step = steps.get("step") or next(iter(steps.values()))
    if not isinstance(step, dict):
        raise RegistrationError(f"{where}.steps.step: expected an object")
    runtime = step.get("runtime") or {}
    url = runtime.get("url") if isinstance(runtime, dict) else None
    if not isinstance(url, str) or not url:
        raise RegistrationError(f"{where}.steps.step.runtime.url: the function's URL is required")
    retries = None
    retry_config = step.get("retries")
    if isinstance(retry_config, dict) and retry_config.get("attempts") is not None:
        attempts = retry_config["attempts"]
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
            raise RegistrationError(f"{where}.steps.step.retries.attempts: expected an integer ≥ 0")
        retries = attempts
    name = raw.get("name") if isinstance(raw.get("name"), str) else slug
    return FunctionConfig(
        slug=slug, name=name or slug, url=url, triggers=triggers, retries=retries, raw=raw
    )


def _parse_trigger(where: str, raw: Any) -> TriggerConfig:
    if not isinstance(raw, dict):
        raise RegistrationError(f"{where}: expected an object with 'event' or 'cron'")
    event, cron = raw.get("event"), raw.get("cron")
    if event is not None and cron is not None:
        raise RegistrationError(f"{where}: a trigger has 'event' or 'cron', not both")
    if event is not None:
        if not isinstance(event, str) or not event.strip():
            raise RegistrationError(f"{where}.event: expected a non-empty event name")
        if len(event) > 255:
            raise RegistrationError(f"{where}.event: longer than 255 characters")
        expression = raw.get("expression")
        if expression is not None and not isinstance(expression, str):
            raise RegistrationError(f"{where}.expression: expected a string")
        return TriggerConfig(event=event, expression=expression or None)
    if cron is not None:
        if not isinstance(cron, str) or not cron.strip():
            raise RegistrationError(f"{where}.cron: expected a cron expression")
        jitter = raw.get("jitter")
        return TriggerConfig(cron=cron, jitter=jitter if isinstance(jitter, str) else None)
    raise RegistrationError(f"{where}: a trigger needs 'event' or 'cron'")
