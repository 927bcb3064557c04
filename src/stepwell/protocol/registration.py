"""App registration payloads (protocol.md §3.3): what SDKs POST to ``/fn/register``, and what
they answer an in-band sync with (§3.6). Both halves of the shape live here: ``to_wire`` builds
it (our SDK sends it) and ``parse_registration`` reads it (our server receives it).

Both official SDKs are accepted: keys are matched leniently (``appname``/``appName``,
``deploy_type``/``deployType``), unknown keys are ignored, and every refusal names the field.
What we build is written as the Python SDK writes it, key for key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROOT_STEP_ID = "step"
"""The one step each function registers; its runtime URL is the function's (``stepId=step``)."""
REGISTRATION_VERSION = "0.1"
FUNCTION_KEYS = frozenset({"id", "name", "steps", "triggers"})
"""A function config's own keys; the others are its ``options`` (flow control, cancellation)."""


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

    def to_wire(self) -> dict[str, Any]:
        if self.cron is not None:
            return {"cron": self.cron, **({"jitter": self.jitter} if self.jitter else {})}
        wire: dict[str, Any] = {"event": self.event}
        if self.expression:
            wire["expression"] = self.expression
        return wire


@dataclass(slots=True)
class FunctionConfig:
    slug: str
    name: str
    url: str
    """Where the function is called: its app's URL with ``fnId`` and ``stepId`` (§3.3)."""
    triggers: list[TriggerConfig]
    retries: int | None
    raw: dict[str, Any] = field(default_factory=dict)
    """The function's config as received (empty for one we build)."""
    options: dict[str, Any] = field(default_factory=dict)
    """Every key but the function's own (``FUNCTION_KEYS``), as registered: flow control
    (``batchEvents``, ``concurrency``, ``rateLimit``, …) and ``cancel``. Written first."""

    def to_wire(self) -> dict[str, Any]:
        step: dict[str, Any] = {"id": ROOT_STEP_ID, "name": ROOT_STEP_ID}
        if self.retries is not None:
            # The server reads this as the number of *retries* (§5.8).
            step["retries"] = {"attempts": self.retries}
        step["runtime"] = {"type": "http", "url": self.url}
        return {
            **self.options,
            "id": self.slug,
            "name": self.name,
            "steps": {ROOT_STEP_ID: step},
            "triggers": [trigger.to_wire() for trigger in self.triggers],
        }


@dataclass(slots=True)
class AppRegistration:
    app_name: str
    url: str
    sdk: str
    """``language:vversion``, e.g. ``py:v0.1.0``."""
    framework: str
    functions: list[FunctionConfig]
    raw: dict[str, Any] = field(default_factory=dict)
    """The payload as received (empty for one we build)."""
    capabilities: dict[str, str] = field(default_factory=dict)
    deploy_type: str = "ping"

    def to_wire(self) -> dict[str, Any]:
        """The ``/fn/register`` payload."""
        return {
            "appname": self.app_name,
            "capabilities": dict(self.capabilities),
            "deploy_type": self.deploy_type,
            "framework": self.framework,
            "functions": [fn.to_wire() for fn in self.functions],
            "sdk": self.sdk,
            "url": self.url,
            "v": REGISTRATION_VERSION,
        }


def in_band_answer(
    registration: AppRegistration,
    *,
    env: str | None,
    inspection: dict[str, Any],
    sdk_author: str,
    platform: str | None = None,
) -> dict[str, Any]:
    """The body answering an in-band sync (§3.6): the registration itself, in its own keys.

    As the Python SDK writes it, without nulls (the Go server chokes on some, e.g. a null
    scope). ``in_band_registration`` reads it back as a ``/fn/register`` payload.
    """
    language, _, version = registration.sdk.partition(":v")
    body = {
        "app_id": registration.app_name,
        "env": env,
        "framework": registration.framework,
        "functions": [fn.to_wire() for fn in registration.functions],
        "inspection": inspection,
        "platform": platform,
        "sdk_author": sdk_author,
        "sdk_language": language,
        "sdk_version": version,
        "url": registration.url,
    }
    without_none: dict[str, Any] = _without_none(body)
    return without_none


def in_band_registration(body: dict[str, Any]) -> dict[str, Any]:
    """An in-band sync answer (§3.6) in the shape of a ``/fn/register`` payload."""
    language = body.get("sdk_language") or ""
    version = body.get("sdk_version") or ""
    return {
        "appName": body.get("app_id"),
        "url": body.get("url"),
        "framework": body.get("framework"),
        "sdk": body.get("sdk") or f"{language}:v{version}",
        "functions": body.get("functions") or [],
        "v": REGISTRATION_VERSION,
    }


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value if v is not None]
    return value


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
    capabilities = payload.get("capabilities")
    deploy_type = _lenient(payload, "deployType", "deploy_type")
    return AppRegistration(
        app_name=app_name,
        url=url,
        sdk=str(payload.get("sdk") or ""),
        framework=str(payload.get("framework") or ""),
        functions=functions,
        raw=payload,
        capabilities=(
            {k: v for k, v in capabilities.items() if isinstance(v, str)}
            if isinstance(capabilities, dict)
            else {}
        ),
        deploy_type=deploy_type if isinstance(deploy_type, str) else "ping",
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
        slug=slug,
        name=name or slug,
        url=url,
        triggers=triggers,
        retries=retries,
        raw=raw,
        options={key: value for key, value in raw.items() if key not in FUNCTION_KEYS},
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
