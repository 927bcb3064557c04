"""Reading ``/fn/register`` payloads (protocol.md §3.3): both official SDKs' shapes are accepted,
and every refusal names the field it is about."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stepwell.protocol.registration import RegistrationError, parse_registration

URL = "http://localhost/api/inngest"


def _step(fn_id: str, attempts: int, url: str = URL) -> dict[str, Any]:
    return {
        "step": {
            "id": "step",
            "name": "step",
            "retries": {"attempts": attempts},
            "runtime": {"type": "http", "url": f"{url}?fnId={fn_id}&stepId=step"},
        }
    }


# As the Python SDK 0.5.19 sent it (protocol.md §3.3): ``appname``, ``deploy_type``, sorted keys.
PY_PAYLOAD: dict[str, Any] = {
    "appname": "myapp",
    "capabilities": {"connect": "v1", "in_band_sync": "v1", "trust_probe": "v1"},
    "deploy_type": "ping",
    "framework": "flask",
    "functions": [
        {
            "cancel": [{"event": "a/cancel", "if": "event.data.id == async.data.id"}],
            "concurrency": [{"key": "event.data.k", "limit": 2, "scope": "fn"}],
            "debounce": {"period": "5s"},
            "id": "myapp-f",
            "idempotency": "event.data.id",
            "name": "F",
            "priority": {"run": "event.data.p"},
            "steps": _step("myapp-f", 3),
            "throttle": {"limit": 1, "period": "10s", "burst": 1},
            "timeouts": {"finish": "1m"},
            "triggers": [
                {"event": "a/b", "expression": "event.data.x > 1"},
                {"cron": "0 * * * *"},
            ],
        },
        {
            "cancel": [],
            "concurrency": [],
            "id": "myapp-f-failure",
            "name": "F (failure)",
            "steps": _step("myapp-f-failure", 0),
            "triggers": [
                {
                    "event": "inngest/function.failed",
                    "expression": "event.data.function_id == 'myapp-f'",
                }
            ],
        },
    ],
    "sdk": "py:v0.5.19",
    "url": URL,
    "v": "0.1",
}

TS_URL = "http://127.0.0.1:3999/api/inngest"

# As the TypeScript SDK 4.24.0 sent it: ``appName``, ``deployType``, and keys we do not read.
TS_PAYLOAD: dict[str, Any] = {
    "url": TS_URL,
    "deployType": "ping",
    "framework": "nodejs",
    "appName": "myapp",
    "functions": [
        {
            "id": "myapp-steps",
            "name": "steps",
            "triggers": [{"event": "test/steps"}],
            "steps": _step("myapp-steps", 2, TS_URL),
            "concurrency": [{"limit": 2, "key": "event.data.k"}],
            "cancel": [{"event": "test/cancel", "if": "event.data.id == async.data.id"}],
        },
        {
            "id": "myapp-invoked",
            "name": "invoked",
            "triggers": [],  # invoke-only
            "steps": _step("myapp-invoked", 1, TS_URL),
        },
    ],
    "sdk": "js:v4.24.0",
    "v": "0.1",
    "capabilities": {"trust_probe": "v1", "connect": "v1"},
    "featureObservations": {"anything": {"at": "all"}},
}


def test_the_python_sdks_payload() -> None:
    app = parse_registration(copy.deepcopy(PY_PAYLOAD))
    assert (app.app_name, app.url, app.sdk, app.framework, app.deploy_type) == (
        "myapp",
        URL,
        "py:v0.5.19",
        "flask",
        "ping",
    )
    assert app.capabilities == {"connect": "v1", "in_band_sync": "v1", "trust_probe": "v1"}
    assert app.raw == PY_PAYLOAD
    main, failure = app.functions
    assert (main.slug, main.name, main.retries) == ("myapp-f", "F", 3)
    assert main.url == f"{URL}?fnId=myapp-f&stepId=step"
    assert [(t.event, t.expression, t.cron) for t in main.triggers] == [
        ("a/b", "event.data.x > 1", None),
        (None, None, "0 * * * *"),
    ]
    assert set(main.options) == {
        "cancel",
        "concurrency",
        "debounce",
        "idempotency",
        "priority",
        "throttle",
        "timeouts",
    }
    assert main.options["throttle"] == {"limit": 1, "period": "10s", "burst": 1}
    assert main.raw == PY_PAYLOAD["functions"][0]
    assert (failure.slug, failure.name, failure.retries) == ("myapp-f-failure", "F (failure)", 0)
    assert failure.triggers[0].event == "inngest/function.failed"


def test_the_typescript_sdks_payload() -> None:
    app = parse_registration(copy.deepcopy(TS_PAYLOAD))
    assert (app.app_name, app.url, app.sdk, app.framework, app.deploy_type) == (
        "myapp",
        TS_URL,
        "js:v4.24.0",
        "nodejs",
        "ping",
    )
    steps, invoked = app.functions
    assert (steps.slug, steps.retries, steps.options["concurrency"]) == (
        "myapp-steps",
        2,
        [{"limit": 2, "key": "event.data.k"}],
    )
    assert steps.url == f"{TS_URL}?fnId=myapp-steps&stepId=step"
    assert invoked.triggers == []


@pytest.mark.parametrize("key", ["appname", "appName", "app_name", "APPNAME", "app_Name"])
def test_the_app_name_key_is_matched_leniently(key: str) -> None:
    payload = {k: v for k, v in TS_PAYLOAD.items() if k != "appName"} | {key: "shop"}
    assert parse_registration(payload).app_name == "shop"


@pytest.mark.parametrize("key", ["deploy_type", "deployType", "DEPLOYTYPE"])
def test_the_deploy_type_key_is_matched_leniently(key: str) -> None:
    payload = {k: v for k, v in TS_PAYLOAD.items() if k != "deployType"} | {key: "cli"}
    assert parse_registration(payload).deploy_type == "cli"


def test_what_may_be_left_out_has_defaults() -> None:
    fn = {"id": "shop-a", "steps": {"step": {"runtime": {"url": URL}}}}
    app = parse_registration({"appName": "shop", "url": URL, "functions": [fn]})
    assert (app.sdk, app.framework, app.deploy_type, app.capabilities) == ("", "", "ping", {})
    [parsed] = app.functions
    assert (parsed.name, parsed.retries, parsed.triggers, parsed.options) == (
        "shop-a",
        None,
        [],
        {},
    )


def test_lenient_readings_of_odd_values() -> None:
    fn = {
        "id": "shop-a",
        "name": 7,  # not a string: the id is the name
        "triggers": None,  # none: invoke-only
        "steps": {"other": {"runtime": {"url": URL}, "retries": {"attempts": None}}},
    }
    payload = {
        "appName": "shop",
        "url": URL,
        "functions": [fn],
        "capabilities": {"connect": "v1", "odd": 1},
        "deployType": 3,
        "sdk": None,
    }
    app = parse_registration(payload)
    [parsed] = app.functions
    assert (parsed.name, parsed.triggers, parsed.retries, parsed.url) == ("shop-a", [], None, URL)
    assert app.capabilities == {"connect": "v1"}
    assert (app.deploy_type, app.sdk) == ("ping", "")


def test_trigger_details() -> None:
    triggers = [
        {"event": "a/b", "expression": ""},
        {"cron": "TZ=Europe/Paris 0 9 * * 1-5", "jitter": "30s"},
        {"cron": "*/5 * * * *", "jitter": 30},
    ]
    fn = {"id": "shop-a", "triggers": triggers, "steps": _step("shop-a", 1)}
    [parsed] = parse_registration({"appName": "shop", "url": URL, "functions": [fn]}).functions
    assert [(t.event, t.expression, t.cron, t.jitter) for t in parsed.triggers] == [
        ("a/b", None, None, None),
        (None, None, "TZ=Europe/Paris 0 9 * * 1-5", "30s"),
        (None, None, "*/5 * * * *", None),
    ]


def test_an_app_may_have_no_functions() -> None:
    assert parse_registration({"appName": "shop", "url": URL, "functions": []}).functions == []


# -- refusals name their field ----------------------------------------------------------------


def _with_function(**changes: Any) -> dict[str, Any]:
    fn: dict[str, Any] = {"id": "shop-a", "triggers": [{"event": "a/b"}], "steps": _step("a", 1)}
    for key, value in changes.items():
        if value is None:
            fn.pop(key, None)
        else:
            fn[key] = value
    return {"appName": "shop", "url": URL, "functions": [fn]}


def _with_trigger(trigger: Any) -> dict[str, Any]:
    return _with_function(triggers=[{"event": "a/first"}, trigger])


def _with_step(step: Any) -> dict[str, Any]:
    return _with_function(steps={"step": step})


AT = "functions[0] (shop-a)"
NO_STEP_URL = f"{AT}.steps.step.runtime.url: the function's URL is required"
BAD_ATTEMPTS = f"{AT}.steps.step.retries.attempts: expected an integer ≥ 0"
RUNTIME = {"url": URL}

REFUSALS: list[tuple[str, Any, str]] = [
    ("body", [PY_PAYLOAD], "Invalid request: the body must be a JSON object"),
    ("body", "x", "Invalid request: the body must be a JSON object"),
    ("app name", {"url": URL, "functions": []}, "appName: an app name is required"),
    ("blank name", {"appName": "  ", "url": URL, "functions": []}, "appName: an app name is"),
    ("name type", {"appName": 5, "url": URL, "functions": []}, "appName: an app name is"),
    ("url", {"appName": "shop", "functions": []}, "url: the app's URL is required"),
    ("empty url", {"appName": "shop", "url": "", "functions": []}, "url: the app's URL is"),
    ("url type", {"appName": "shop", "url": 8000, "functions": []}, "url: the app's URL is"),
    ("functions", {"appName": "shop", "url": URL}, "functions: expected an array of function"),
    (
        "functions type",
        {"appName": "shop", "url": URL, "functions": {"a": {}}},
        "functions: expected an array of function configs",
    ),
    (
        "function type",
        {"appName": "shop", "url": URL, "functions": ["shop-a"]},
        "functions[0]: expected an object",
    ),
    ("id", _with_function(id=None), "functions[0].id: a function id is required"),
    ("empty id", _with_function(id=""), "functions[0].id: a function id is required"),
    ("id type", _with_function(id=3), "functions[0].id: a function id is required"),
    ("triggers type", _with_function(triggers={"event": "a/b"}), f"{AT}.triggers: expected an"),
    (
        "eleven triggers",
        _with_function(triggers=[{"event": f"a/{i}"} for i in range(11)]),
        f"{AT}.triggers: at most 10 triggers, got 11",
    ),
    (
        "duplicate triggers",
        _with_function(triggers=[{"event": "a/b"}, {"event": "a/b"}]),
        f"{AT}.triggers: duplicate triggers",
    ),
    ("trigger type", _with_trigger("a/b"), f"{AT}.triggers[1]: expected an object with 'event'"),
    ("empty trigger", _with_trigger({}), f"{AT}.triggers[1]: a trigger needs 'event' or 'cron'"),
    (
        "event and cron",
        _with_trigger({"event": "a/b", "cron": "* * * * *"}),
        f"{AT}.triggers[1]: a trigger has 'event' or 'cron', not both",
    ),
    ("empty event", _with_trigger({"event": " "}), f"{AT}.triggers[1].event: expected a non-empty"),
    ("event type", _with_trigger({"event": 1}), f"{AT}.triggers[1].event: expected a non-empty"),
    (
        "long event",
        _with_trigger({"event": "a" * 256}),
        f"{AT}.triggers[1].event: longer than 255 characters",
    ),
    (
        "expression type",
        _with_trigger({"event": "a/b", "expression": True}),
        f"{AT}.triggers[1].expression: expected a string",
    ),
    ("empty cron", _with_trigger({"cron": ""}), f"{AT}.triggers[1].cron: expected a cron"),
    ("cron type", _with_trigger({"cron": 5}), f"{AT}.triggers[1].cron: expected a cron"),
    ("steps", _with_function(steps=None), f"{AT}.steps: expected an object with a 'step' entry"),
    ("no steps", _with_function(steps={}), f"{AT}.steps: expected an object with a 'step' entry"),
    ("steps type", _with_function(steps=["step"]), f"{AT}.steps: expected an object with a"),
    ("step type", _with_step("http"), f"{AT}.steps.step: expected an object"),
    ("runtime", _with_step({"id": "step"}), NO_STEP_URL),
    ("runtime type", _with_step({"runtime": "http"}), NO_STEP_URL),
    ("runtime url", _with_step({"runtime": {"type": "http"}}), NO_STEP_URL),
    ("runtime url type", _with_step({"runtime": {"url": 1}}), NO_STEP_URL),
    ("negative", _with_step({"runtime": RUNTIME, "retries": {"attempts": -1}}), BAD_ATTEMPTS),
    ("bool", _with_step({"runtime": RUNTIME, "retries": {"attempts": True}}), BAD_ATTEMPTS),
    ("text", _with_step({"runtime": RUNTIME, "retries": {"attempts": "3"}}), BAD_ATTEMPTS),
    ("float", _with_step({"runtime": RUNTIME, "retries": {"attempts": 2.0}}), BAD_ATTEMPTS),
]


@pytest.mark.parametrize(
    ("payload", "message"),
    [(payload, message) for _, payload, message in REFUSALS],
    ids=[name for name, _, _ in REFUSALS],
)
def test_a_refusal_names_the_field(payload: Any, message: str) -> None:
    with pytest.raises(RegistrationError) as refused:
        parse_registration(payload)
    assert str(refused.value).startswith(message), str(refused.value)


def test_duplicate_function_ids_are_named() -> None:
    functions = [{"id": slug, "steps": _step(slug, 1)} for slug in ["shop-a", "shop-b", "shop-a"]]
    payload = {"appName": "shop", "url": URL, "functions": functions}
    with pytest.raises(RegistrationError) as refused:
        parse_registration(payload)
    assert str(refused.value) == "functions: duplicate function id(s) ['shop-a']"


def test_a_registration_error_is_a_value_error() -> None:
    # The server answers both with 400 (``/fn/register``).
    assert issubclass(RegistrationError, ValueError)
